package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/webhook"
)

// maxCommentLength bounds a comment's text.
const maxCommentLength = 64 << 10

const commentColumns = `c.id, c.issue_id, c.user_id, c.text, c.date_created, c.date_updated, ` + userColumns

const commentFrom = ` FROM comments c JOIN users u ON u.id = c.user_id `

func scanComment(row interface{ Scan(...any) error }) (*herald.Comment, error) {
	c := &herald.Comment{User: &herald.User{}}
	var created, updated, joined int64
	err := row.Scan(&c.ID, &c.IssueID, &c.UserID, &c.Text, &created, &updated,
		&c.User.ID, &c.User.Email, &c.User.Name, &c.User.IsSuperuser, &joined)
	if err != nil {
		return nil, err
	}
	c.DateCreated, c.DateUpdated, c.User.DateJoined = fromTS(created), fromTS(updated), fromTS(joined)
	return c, nil
}

// CreateComment inserts c with the comment.created deliveries.
func (s *DB) CreateComment(ctx context.Context, c *herald.Comment, actor herald.Actor) error {
	if err := checkCommentText(c.Text); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		p, err := s.issueProject(ctx, tx, c.IssueID)
		if err != nil {
			return err
		}
		now := s.clock.Now().UTC()
		c.DateCreated, c.DateUpdated = now, now
		if err := s.queryRow(ctx, tx, `INSERT INTO comments (issue_id, user_id, text, date_created, date_updated) VALUES ($1, $2, $3, $4, $4) RETURNING id`,
			c.IssueID, c.UserID, c.Text, ts(now)).Scan(&c.ID); err != nil {
			return fmt.Errorf("insert comment: %w", err)
		}
		if _, err := s.exec(ctx, tx, `UPDATE issues SET num_comments = num_comments + 1 WHERE id = $1`, c.IssueID); err != nil {
			return fmt.Errorf("count comments: %w", err)
		}
		u := &herald.User{}
		if err := scanUser(s.queryRow(ctx, tx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, c.UserID), u); err != nil {
			return notFound(err, "user")
		}
		c.User = u
		return s.commentChanged(ctx, tx, webhook.CommentCreated, p, c, actor, now)
	})
}

// checkCommentText rejects an empty or oversized comment.
func checkCommentText(text string) error {
	if text == "" {
		return herald.Errorf(herald.EINVALID, "comment text is required")
	}
	if len(text) > maxCommentLength {
		return herald.Errorf(herald.EINVALID, "comment text is longer than %d bytes", maxCommentLength)
	}
	return nil
}

// UpdateComment sets the text of one of the user's comments, with the
// comment.updated deliveries.
func (s *DB) UpdateComment(ctx context.Context, issueID, id, userID int64, text string, actor herald.Actor) (*herald.Comment, error) {
	if err := checkCommentText(text); err != nil {
		return nil, err
	}
	var c *herald.Comment
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		p, err := s.issueProject(ctx, tx, issueID)
		if err != nil {
			return err
		}
		now := s.clock.Now().UTC()
		res, err := s.exec(ctx, tx, `UPDATE comments SET text = $1, date_updated = $2 WHERE id = $3 AND issue_id = $4 AND user_id = $5`,
			text, ts(now), id, issueID, userID)
		if err != nil {
			return fmt.Errorf("update comment: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return herald.Errorf(herald.ENOTFOUND, "comment not found")
		}
		if c, err = scanComment(s.queryRow(ctx, tx, `SELECT `+commentColumns+commentFrom+`WHERE c.id = $1`, id)); err != nil {
			return fmt.Errorf("read comment: %w", err)
		}
		return s.commentChanged(ctx, tx, webhook.CommentUpdated, p, c, actor, now)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// DeleteComment removes one of the user's comments, with the
// comment.deleted deliveries carrying its last text.
func (s *DB) DeleteComment(ctx context.Context, issueID, id, userID int64, actor herald.Actor) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		p, err := s.issueProject(ctx, tx, issueID)
		if err != nil {
			return err
		}
		c, err := scanComment(s.queryRow(ctx, tx, `SELECT `+commentColumns+commentFrom+`WHERE c.id = $1 AND c.issue_id = $2 AND c.user_id = $3`,
			id, issueID, userID))
		if err != nil {
			return notFound(err, "comment")
		}
		if _, err := s.exec(ctx, tx, `DELETE FROM comments WHERE id = $1`, id); err != nil {
			return fmt.Errorf("delete comment: %w", err)
		}
		if _, err := s.exec(ctx, tx, `UPDATE issues SET num_comments = num_comments - 1 WHERE id = $1 AND num_comments > 0`, issueID); err != nil {
			return fmt.Errorf("count comments: %w", err)
		}
		return s.commentChanged(ctx, tx, webhook.CommentDeleted, p, c, actor, s.clock.Now().UTC())
	})
}

// FindComments lists an issue's comments, newest first.
func (s *DB) FindComments(ctx context.Context, issueID int64) ([]*herald.Comment, error) {
	rows, err := s.query(ctx, nil, `SELECT `+commentColumns+commentFrom+`WHERE c.issue_id = $1 ORDER BY c.id DESC`, issueID)
	if err != nil {
		return nil, fmt.Errorf("find comments: %w", err)
	}
	defer rows.Close()
	var out []*herald.Comment
	for rows.Next() {
		c, err := scanComment(rows)
		if err != nil {
			return nil, fmt.Errorf("scan comment: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// issueProject returns the project of an issue, with its organization.
func (s *DB) issueProject(ctx context.Context, tx *sql.Tx, issueID int64) (*herald.Project, error) {
	p, err := scanProject(s.queryRow(ctx, tx, `SELECT `+projectColumns+projectFrom+`WHERE p.id = (SELECT project_id FROM issues WHERE id = $1)`, issueID))
	if err != nil {
		return nil, notFound(err, "issue")
	}
	return p, nil
}

// commentChanged writes the deliveries of a comment event to the
// organization's installations subscribed to comments.
func (s *DB) commentChanged(ctx context.Context, tx *sql.Tx, event string, p *herald.Project, c *herald.Comment, actor herald.Actor, now time.Time) error {
	n, ok := s.notifier.(herald.AppNotifier)
	if !ok {
		return nil
	}
	installs, err := s.orgInstallations(ctx, tx, []int64{p.OrganizationID}, webhook.ResourceComment)
	if err != nil || len(installs) == 0 {
		return err
	}
	return s.enqueue(ctx, tx, n.CommentChanged(&herald.CommentChange{Event: event, Project: p, Comment: c,
		Actor: actor, Installations: installs[p.OrganizationID], Now: now}))
}
