package herald

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Assignee kinds.
const (
	AssigneeUser = "user"
	AssigneeTeam = "team"
)

// Issue substatuses Herald sets.
const (
	SubstatusNew               = "new"
	SubstatusOngoing           = "ongoing"
	SubstatusRegressed         = "regressed"
	SubstatusUntilEscalating   = "archived_until_escalating"
	SubstatusUntilConditionMet = "archived_until_condition_met"
	SubstatusArchivedForever   = "archived_forever"
)

// MaxBulkIssues is how many issues one bulk update selected by status
// changes at most, as in Sentry.
const MaxBulkIssues = 1000

// Assignee is who an issue is assigned to: a user or a team of its
// organization.
type Assignee struct {
	// Type is AssigneeUser or AssigneeTeam.
	Type string
	ID   int64
	// Name is the user's name (their email when they have none) or the
	// team's slug.
	Name string
	// Email is set for users.
	Email string
}

// Resolution types, Sentry's resolution_type of issue.resolved: how an
// issue was resolved.
const (
	ResolvedNow           = "now"
	ResolvedInNextRelease = "in_next_release"
	ResolvedInRelease     = "in_release"
	ResolvedInCommit      = "in_commit"
)

// Bounds of a resolution, Sentry's column sizes.
const (
	MaxReleaseLength    = 250
	MaxCommitLength     = 64
	MaxRepositoryLength = 200
)

// Resolution says how an issue was resolved: Sentry's statusDetails of a
// resolved issue ({"inNextRelease": true}, {"inRelease": version} or
// {"inCommit": commit}). A nil Resolution is ResolvedNow.
type Resolution struct {
	// Type is ResolvedNow, ResolvedInNextRelease, ResolvedInRelease or
	// ResolvedInCommit.
	Type string
	// Release is the version of a ResolvedInRelease resolution.
	Release string
	// Commit and Repository name the commit (its id, such as a SHA, and the
	// repository's name) of a ResolvedInCommit resolution.
	Commit     string
	Repository string
}

// ResolutionType returns r's Type, ResolvedNow for nil.
func (r *Resolution) ResolutionType() string {
	if r == nil || r.Type == "" {
		return ResolvedNow
	}
	return r.Type
}

// Validate checks that r is one of the resolution types with the fields it
// needs, within bounds. Messages name the statusDetails key the API reads
// the field from.
func (r *Resolution) Validate() error {
	if r == nil {
		return nil
	}
	fe := FieldErrors{}
	checkText := func(field, v string, limit int) {
		switch {
		case strings.TrimSpace(v) == "":
			fe.Add(field, MsgBlank)
		case len(v) > limit:
			fe.Add(field, fmt.Sprintf("Ensure this field has no more than %d characters.", limit))
		case strings.ContainsFunc(v, unicode.IsControl):
			fe.Add(field, "Must not contain control characters.")
		}
	}
	switch r.Type {
	case "", ResolvedNow, ResolvedInNextRelease:
	case ResolvedInRelease:
		checkText("statusDetails.inRelease", r.Release, MaxReleaseLength)
	case ResolvedInCommit:
		checkText("statusDetails.inCommit.commit", r.Commit, MaxCommitLength)
		checkText("statusDetails.inCommit.repository", r.Repository, MaxRepositoryLength)
	default:
		fe.Add("statusDetails", fmt.Sprintf("%q is not a resolution type.", r.Type))
	}
	return fe.Err()
}

// IssueUpdate holds what an update changes; nil means unchanged.
type IssueUpdate struct {
	// Status is IssueResolved, IssueIgnored or IssueUnresolved.
	Status *string
	// Substatus goes with an ignored status (SubstatusUntilEscalating when
	// nil); other statuses get theirs from the change.
	Substatus *string
	// Resolution goes with a resolved status (resolved now when nil).
	Resolution *Resolution
	// AssignedTo assigns the issue; a non-nil pointer to nil unassigns it.
	AssignedTo **Assignee
}

// IssueSelection names the issues of a project a bulk update changes: the
// ones listed in IDs, or, without IDs, up to MaxBulkIssues of those whose
// status is one of Statuses (any status when empty).
type IssueSelection struct {
	ProjectID int64
	IDs       []int64
	Statuses  []string
}

// IssueSearch selects issues of a project, most recently seen first.
type IssueSearch struct {
	ProjectID int64
	// Statuses keeps issues with one of these statuses; empty means all.
	Statuses []string
	// Assigned keeps assigned issues when true and unassigned ones when
	// false; nil means both.
	Assigned *bool
	// AssigneeUserID keeps issues assigned to that user.
	AssigneeUserID int64
	// Text keeps issues whose title or culprit contains it (any case).
	Text string
	Page Page
}

// IssueStat is the number of events an issue received in one time bucket
// starting at TS (unix seconds).
type IssueStat struct {
	TS    int64
	Count int64
}

// IssueService reads and changes issues beyond what ingest does.
type IssueService interface {
	// FindIssue returns an organization's issue by id or short id, with its
	// assignee and comment count, or ENOTFOUND.
	FindIssue(ctx context.Context, orgID int64, idOrShortID string) (*Issue, error)
	// SearchIssues lists a project's issues, with assignees and comment
	// counts, most recently seen first.
	SearchIssues(ctx context.Context, f IssueSearch) ([]*Issue, string, error)
	// DeleteIssue deletes the issue: it is no longer found, nor are its
	// events, and the next event of its group opens a new issue; its
	// events, comments and alert counters are deleted in the background.
	DeleteIssue(ctx context.Context, id int64) error
	// IssueStats counts the events of each issue per bucket of resolution
	// in [since, until), every bucket listed.
	IssueStats(ctx context.Context, issueIDs []int64, since, until time.Time, resolution time.Duration) (map[int64][]IssueStat, error)
	// FindUserByEmail returns the user or ENOTFOUND.
	FindUserByEmail(ctx context.Context, email string) (*User, error)
	// FindTeamByID returns an organization's team or ENOTFOUND.
	FindTeamByID(ctx context.Context, orgID, id int64) (*Team, error)
}

// Comment is a note a user left on an issue.
type Comment struct {
	ID          int64
	IssueID     int64
	UserID      int64
	Text        string
	DateCreated time.Time
	DateUpdated time.Time

	// User is the author, loaded by the store.
	User *User
}

// MaxCommentLength bounds a comment's text, in bytes.
const MaxCommentLength = 64 << 10

// Validate checks that the comment has a text of at most MaxCommentLength
// bytes.
func (c *Comment) Validate() error {
	if c.Text == "" {
		return Errorf(EINVALID, "comment text is required")
	}
	if len(c.Text) > MaxCommentLength {
		return Errorf(EINVALID, "comment text is longer than %d bytes", MaxCommentLength)
	}
	return nil
}

// CommentService reads the comments of issues; the ChangeService writes
// them.
type CommentService interface {
	// FindComments lists an issue's comments, newest first.
	FindComments(ctx context.Context, issueID int64) ([]*Comment, error)
}
