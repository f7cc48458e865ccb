package service

import (
	"context"
	"slices"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/sqlstore"
	"github.com/herald-dev/herald/internal/webhook"
)

// UpdateIssues applies upd to the selected issues in one transaction, with
// the issue.* deliveries the changes cause; see herald.ChangeService.
//
// Resolving clears the substatus, ignoring sets upd's (until escalating by
// default), and unresolving an issue that was not unresolved makes it
// ongoing. A change of status sends issue.resolved, .ignored or
// .unresolved; an assignment (not an unassignment) sends issue.assigned.
// A resolution (in the next release, in a release, in a commit) goes with
// a resolved status and is stored with it, also on issues already resolved
// otherwise (which send no issue.resolved again); issue.resolved sends it
// as resolution_type and statusDetails. Any other status clears it.
func (s *Service) UpdateIssues(ctx context.Context, sel herald.IssueSelection, upd herald.IssueUpdate, actor herald.Actor) ([]*herald.Issue, error) {
	if upd.Status != nil && !slices.Contains([]string{herald.IssueResolved, herald.IssueIgnored, herald.IssueUnresolved}, *upd.Status) {
		return nil, herald.Errorf(herald.EINVALID, "invalid status %q", *upd.Status)
	}
	if upd.Resolution != nil && (upd.Status == nil || *upd.Status != herald.IssueResolved) {
		return nil, herald.InvalidField("statusDetails", `A resolution goes with status "resolved".`)
	}
	if err := upd.Resolution.Validate(); err != nil {
		return nil, err
	}
	var out []*herald.Issue
	err := s.inTx(ctx, func(tx *sqlstore.Tx, ob *outbox) error {
		projects, err := tx.Projects(ctx, []int64{sel.ProjectID})
		if err != nil {
			return err
		}
		p := projects[sel.ProjectID]
		if p == nil {
			return herald.Errorf(herald.ENOTFOUND, "project not found")
		}
		issues, err := tx.SelectIssues(ctx, sel)
		if err != nil || len(issues) == 0 {
			out = issues
			return err
		}
		type change struct {
			issue *herald.Issue
			event string
		}
		var changes []change
		type status struct{ status, substatus string }
		byStatus := map[status][]int64{}
		var statuses []status
		var assigned []int64
		for _, is := range issues {
			if upd.Status != nil {
				next := status{*upd.Status, is.Substatus}
				switch next.status {
				case herald.IssueResolved:
					next.substatus = ""
				case herald.IssueIgnored:
					next.substatus = herald.SubstatusUntilEscalating
					if upd.Substatus != nil {
						next.substatus = *upd.Substatus
					}
				case herald.IssueUnresolved:
					if is.Status != herald.IssueUnresolved {
						next.substatus = herald.SubstatusOngoing
					}
				}
				if next.status != is.Status || next.substatus != is.Substatus ||
					(next.status == herald.IssueResolved && !sameResolution(is.Resolution, upd.Resolution)) {
					if _, ok := byStatus[next]; !ok {
						statuses = append(statuses, next)
					}
					byStatus[next] = append(byStatus[next], is.ID)
				}
				if next.status != is.Status {
					changes = append(changes, change{is, statusEvent(next.status)})
				}
				is.Status, is.Substatus = next.status, next.substatus
			}
			if upd.AssignedTo != nil {
				a := *upd.AssignedTo
				if !sameAssignee(is.AssignedTo, a) {
					assigned = append(assigned, is.ID)
					if a != nil {
						changes = append(changes, change{is, webhook.IssueAssigned})
					}
				}
				is.AssignedTo = a
			}
		}
		for _, st := range statuses {
			params := sqlstore.SetIssueStatusParams{IDs: byStatus[st], Status: st.status, Substatus: st.substatus}
			if st.status == herald.IssueResolved {
				params.Resolution = upd.Resolution
			}
			if _, err := tx.SetIssueStatus(ctx, params); err != nil {
				return err
			}
		}
		if len(assigned) > 0 {
			if err := tx.AssignIssues(ctx, sqlstore.AssignIssuesParams{IDs: assigned, Assignee: *upd.AssignedTo}); err != nil {
				return err
			}
		}
		// Read the issues back: assignees get their names and emails, and
		// the resolutions are as stored.
		ids := make([]int64, len(issues))
		for i, is := range issues {
			ids[i] = is.ID
		}
		if out, err = tx.SelectIssues(ctx, herald.IssueSelection{ProjectID: sel.ProjectID, IDs: ids}); err != nil {
			return err
		}
		if len(changes) == 0 {
			return nil
		}
		fresh := make(map[int64]*herald.Issue, len(out))
		for _, is := range out {
			fresh[is.ID] = is
		}
		installs, err := s.installations(ctx, tx, p.OrganizationID, herald.ResourceIssue)
		if err != nil || len(installs) == 0 {
			return err
		}
		now := s.clock.Now().UTC()
		var deliveries []*herald.Delivery
		for _, c := range changes {
			deliveries = append(deliveries, s.webhooks.IssueChanged(&webhook.IssueChange{Event: c.event, Project: p, Issue: fresh[c.issue.ID],
				Actor: actor, Installations: installs, Now: now})...)
		}
		return s.write(ctx, tx, ob, deliveries)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// statusEvent names the webhook event of a change to status.
func statusEvent(status string) string {
	switch status {
	case herald.IssueResolved:
		return webhook.IssueResolved
	case herald.IssueIgnored:
		return webhook.IssueIgnored
	}
	return webhook.IssueUnresolved
}

// sameResolution reports whether a and b resolve an issue the same way
// (nil is resolved now).
func sameResolution(a, b *herald.Resolution) bool {
	var x, y herald.Resolution
	if a != nil {
		x = *a
	}
	if b != nil {
		y = *b
	}
	return a.ResolutionType() == b.ResolutionType() && x.Release == y.Release && x.Commit == y.Commit && x.Repository == y.Repository
}

// sameAssignee reports whether a and b name the same user or team.
func sameAssignee(a, b *herald.Assignee) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Type == b.Type && a.ID == b.ID
}

// installations loads the installations of an organization whose app
// subscribes to resource.
func (s *Service) installations(ctx context.Context, tx *sqlstore.Tx, orgID int64, resource string) ([]*herald.Installation, error) {
	installs, err := tx.OrgInstallations(ctx, []int64{orgID})
	if err != nil {
		return nil, err
	}
	return subscribed(installs[orgID], resource), nil
}

// CreateComment inserts c with the comment.created deliveries.
func (s *Service) CreateComment(ctx context.Context, c *herald.Comment, actor herald.Actor) error {
	if err := c.Validate(); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sqlstore.Tx, out *outbox) error {
		p, err := tx.IssueProject(ctx, c.IssueID)
		if err != nil {
			return err
		}
		if err := tx.InsertComment(ctx, c); err != nil {
			return err
		}
		return s.commentChanged(ctx, tx, out, webhook.CommentCreated, p, c, actor)
	})
}

// UpdateComment sets the text of one of the user's comments, with the
// comment.updated deliveries.
func (s *Service) UpdateComment(ctx context.Context, issueID, id, userID int64, text string, actor herald.Actor) (*herald.Comment, error) {
	if err := (&herald.Comment{Text: text}).Validate(); err != nil {
		return nil, err
	}
	var c *herald.Comment
	err := s.inTx(ctx, func(tx *sqlstore.Tx, out *outbox) error {
		p, err := tx.IssueProject(ctx, issueID)
		if err != nil {
			return err
		}
		if c, err = tx.UpdateComment(ctx, sqlstore.CommentRef{IssueID: issueID, ID: id, UserID: userID}, text); err != nil {
			return err
		}
		return s.commentChanged(ctx, tx, out, webhook.CommentUpdated, p, c, actor)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// DeleteComment removes one of the user's comments, with the
// comment.deleted deliveries carrying its last text.
func (s *Service) DeleteComment(ctx context.Context, issueID, id, userID int64, actor herald.Actor) error {
	return s.inTx(ctx, func(tx *sqlstore.Tx, out *outbox) error {
		p, err := tx.IssueProject(ctx, issueID)
		if err != nil {
			return err
		}
		c, err := tx.DeleteComment(ctx, sqlstore.CommentRef{IssueID: issueID, ID: id, UserID: userID})
		if err != nil {
			return err
		}
		return s.commentChanged(ctx, tx, out, webhook.CommentDeleted, p, c, actor)
	})
}

// commentChanged writes the deliveries of a comment event to the
// organization's installations subscribed to comments.
func (s *Service) commentChanged(ctx context.Context, tx *sqlstore.Tx, out *outbox, event string, p *herald.Project, c *herald.Comment, actor herald.Actor) error {
	installs, err := s.installations(ctx, tx, p.OrganizationID, herald.ResourceComment)
	if err != nil || len(installs) == 0 {
		return err
	}
	return s.write(ctx, tx, out, s.webhooks.CommentChanged(&webhook.CommentChange{Event: event, Project: p, Comment: c,
		Actor: actor, Installations: installs, Now: s.clock.Now().UTC()}))
}

// CreateInstallation installs an app on an organization with the
// installation.created delivery; see herald.ChangeService. An internal app
// is installed on its own organization only.
func (s *Service) CreateInstallation(ctx context.Context, inst *herald.Installation, actor herald.Actor) (bool, error) {
	created := false
	err := s.inTx(ctx, func(tx *sqlstore.Tx, out *outbox) error {
		app, err := tx.App(ctx, inst.AppID)
		if err != nil {
			return err
		}
		if app.IsInternal() && app.OrganizationID != inst.OrganizationID {
			return herald.Errorf(herald.EINVALID, "an internal integration can only be installed on its own organization")
		}
		existing, err := tx.LiveInstallation(ctx, sqlstore.InstallationRef{AppID: inst.AppID, OrganizationID: inst.OrganizationID})
		if err == nil {
			*inst = *existing
			return nil
		} else if herald.ErrorCode(err) != herald.ENOTFOUND {
			return err
		}
		org, err := tx.Organization(ctx, inst.OrganizationID)
		if err != nil {
			return err
		}
		inst.Status = herald.InstallationInstalled
		if app.VerifyInstall {
			inst.Status = herald.InstallationPending
		}
		inst.Code, inst.App, inst.Organization = herald.NewID(), app, org
		if err := tx.InsertInstallation(ctx, inst, app); err != nil {
			return err
		}
		created = true
		return s.write(ctx, tx, out, s.webhooks.InstallationChanged(&webhook.InstallationChange{
			Event: webhook.InstallationCreated, Installation: inst, Actor: actor, Now: s.clock.Now().UTC()}))
	})
	return created, err
}

// DeleteInstallation uninstalls an app; see herald.ChangeService. The
// installation.deleted delivery carries the installation as it was. An
// internal app cannot be uninstalled: its app is deleted instead.
func (s *Service) DeleteInstallation(ctx context.Context, uuid string, actor herald.Actor) error {
	return s.inTx(ctx, func(tx *sqlstore.Tx, out *outbox) error {
		inst, err := tx.Installation(ctx, uuid)
		if err != nil {
			return err
		}
		if inst.App.IsInternal() {
			return herald.Errorf(herald.EINVALID, "an internal integration cannot be uninstalled; delete the integration instead")
		}
		if err := s.write(ctx, tx, out, s.webhooks.InstallationChanged(&webhook.InstallationChange{
			Event: webhook.InstallationDeleted, Installation: inst, Actor: actor, Now: s.clock.Now().UTC()})); err != nil {
			return err
		}
		return tx.Uninstall(ctx, inst)
	})
}
