package herald

import "strings"

// MaxIssueQueryLength bounds an issue search query.
const MaxIssueQueryLength = 1024

// IssueQuery is a parsed issue search query: the API's ?query= and the
// dashboard's search box.
type IssueQuery struct {
	// Statuses are the is: statuses asked for (none: any).
	Statuses []string
	// Assigned is is:assigned (true) or is:unassigned (false); nil: either.
	Assigned *bool
	// Me is assigned:me.
	Me bool
	// Text is the free text, matched against title and culprit.
	Text string
}

// ParseIssueQuery reads Sentry's search syntax as far as Herald supports
// it: is:unresolved|resolved|ignored|archived|muted|assigned|unassigned,
// assigned:me, and free text. Anything else is EINVALID with a message
// that says what is allowed.
func ParseIssueQuery(q string) (IssueQuery, error) {
	var out IssueQuery
	if len(q) > MaxIssueQueryLength {
		return out, Errorf(EINVALID, "Invalid query: longer than %d characters.", MaxIssueQueryLength)
	}
	var words []string
	for _, tok := range strings.Fields(q) {
		key, value, ok := strings.Cut(tok, ":")
		if !ok || key == "" || value == "" {
			words = append(words, tok)
			continue
		}
		yes, no := true, false
		switch key {
		case "is":
			switch value {
			case IssueUnresolved, IssueResolved, IssueIgnored:
				out.Statuses = append(out.Statuses, value)
			case "archived", "muted":
				out.Statuses = append(out.Statuses, IssueIgnored)
			case "assigned":
				out.Assigned = &yes
			case "unassigned":
				out.Assigned = &no
			default:
				return out, Errorf(EINVALID, "Invalid value for is: %q. Valid values: unresolved, resolved, ignored, archived, assigned, unassigned.", value)
			}
		case "assigned":
			if value != "me" {
				return out, Errorf(EINVALID, "Invalid value for assigned: %q. Valid values: me.", value)
			}
			out.Me = true
		default:
			return out, Errorf(EINVALID, "Unsupported search term %q.", key)
		}
	}
	out.Text = strings.Join(words, " ")
	return out, nil
}
