package sqlstore

// IssueWindowsQuery exposes issueWindowsQuery to the plan tests.
func (s *DB) IssueWindowsQuery(issues []int64, from, to int64) (string, []any) {
	return s.issueWindowsQuery(issues, from, to)
}

// BacklogQuery is backlogQuery, for the plan tests.
const BacklogQuery = backlogQuery

// FindIssueQuery is findIssueQuery, for the plan tests.
func FindIssueQuery(byShortID bool) string { return findIssueQuery(byShortID) }
