package sqlstore

import (
	"context"
	"fmt"

	"github.com/herald-dev/herald"
)

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

// InsertComment inserts c by c.UserID on c.IssueID, counts it on its issue
// and loads its User.
func (t *Tx) InsertComment(ctx context.Context, c *herald.Comment) error {
	s, tx := t.s, t.tx
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
	return nil
}

// CommentRef names one user's comment on an issue.
type CommentRef struct {
	IssueID, ID, UserID int64
}

// UpdateComment sets the text of the comment ref names and returns it, or
// ENOTFOUND.
func (t *Tx) UpdateComment(ctx context.Context, ref CommentRef, text string) (*herald.Comment, error) {
	s, tx := t.s, t.tx
	res, err := s.exec(ctx, tx, `UPDATE comments SET text = $1, date_updated = $2 WHERE id = $3 AND issue_id = $4 AND user_id = $5`,
		text, ts(s.clock.Now().UTC()), ref.ID, ref.IssueID, ref.UserID)
	if err != nil {
		return nil, fmt.Errorf("update comment: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, herald.Errorf(herald.ENOTFOUND, "comment not found")
	}
	c, err := scanComment(s.queryRow(ctx, tx, `SELECT `+commentColumns+commentFrom+`WHERE c.id = $1`, ref.ID))
	if err != nil {
		return nil, fmt.Errorf("read comment: %w", err)
	}
	return c, nil
}

// DeleteComment removes the comment ref names, uncounting it from its
// issue, and returns it as it was, or ENOTFOUND.
func (t *Tx) DeleteComment(ctx context.Context, ref CommentRef) (*herald.Comment, error) {
	s, tx := t.s, t.tx
	c, err := scanComment(s.queryRow(ctx, tx, `SELECT `+commentColumns+commentFrom+`WHERE c.id = $1 AND c.issue_id = $2 AND c.user_id = $3`,
		ref.ID, ref.IssueID, ref.UserID))
	if err != nil {
		return nil, notFound(err, "comment")
	}
	if _, err := s.exec(ctx, tx, `DELETE FROM comments WHERE id = $1`, ref.ID); err != nil {
		return nil, fmt.Errorf("delete comment: %w", err)
	}
	if _, err := s.exec(ctx, tx, `UPDATE issues SET num_comments = num_comments - 1 WHERE id = $1 AND num_comments > 0`, ref.IssueID); err != nil {
		return nil, fmt.Errorf("count comments: %w", err)
	}
	return c, nil
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

// IssueProject returns the project of an issue, with its organization's
// slug, or ENOTFOUND.
func (t *Tx) IssueProject(ctx context.Context, issueID int64) (*herald.Project, error) {
	p, err := scanProject(t.s.queryRow(ctx, t.tx, `SELECT `+projectColumns+projectFrom+`WHERE p.id = (SELECT project_id FROM issues WHERE id = $1)`, issueID))
	if err != nil {
		return nil, notFound(err, "issue")
	}
	return p, nil
}
