package api

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/herald-dev/herald"
)

// TestHookURLProblem checks the URLs Service Hooks and Sentry Apps accept,
// and the message each refused one gets.
func TestHookURLProblem(t *testing.T) {
	t.Parallel()
	label63 := strings.Repeat("a", 63)
	// name253 is three labels of 63 bytes and one of 61, with their dots
	// 253 bytes: the longest name.
	name253 := label63 + "." + label63 + "." + label63 + "." + strings.Repeat("b", 61)
	tests := []struct {
		name string
		url  string
		want string
	}{
		{"OK", "https://example.com/sentry-hook", ""},
		{"OKQuery", "https://example.com/h?a=b&c", ""},
		{"OKPort", "http://example.com:8080/h", ""},
		{"OKPortMin", "http://example.com:1/", ""},
		{"OKPortMax", "http://example.com:65535/", ""},
		{"OKSingleLabel", "http://receiver/h", ""},
		{"OKTrailingDot", "https://example.com./h", ""},
		{"OKHyphens", "https://my-hook-1.example.com/", ""},
		{"OKUpperCase", "HTTPS://EXAMPLE.COM/H", ""},
		{"OKPunycode", "https://xn--bcher-kva.example/", ""},
		{"OKLabel63", "https://" + label63 + ".example/", ""},
		{"OKName253", "https://" + name253 + "/", ""},
		{"OKName253TrailingDot", "https://" + name253 + "./", ""},
		{"OKNumericLabelNotLast", "https://123.example.com/", ""},
		{"OKHexLookingTLD", "https://example.0xgg/", ""},
		{"OKIPv4", "http://93.184.216.34/h", ""},
		{"OKIPv4Port", "http://93.184.216.34:8080/h", ""},
		{"OKIPv6", "http://[2606:4700:4700::1111]/h", ""},
		{"OKIPv6Port", "http://[2606:4700:4700::1111]:8443/h", ""},
		{"OKIPv4MappedIPv6", "http://[::ffff:93.184.216.34]/", ""},

		// Refused since before.
		{"ErrBlank", "", msgBlank},
		{"ErrTooLong", "https://example.com/" + strings.Repeat("a", 2048), "Ensure this field has no more than 2048 characters."},
		{"ErrNotURL", "not a url", msgInvalidURL},
		{"ErrScheme", "ftp://example.com/h", msgInvalidURL},
		{"ErrNoHost", "https:///h", msgInvalidURL},
		{"ErrRelative", "/hook", msgInvalidURL},
		{"ErrOpaque", "http:example.com", msgInvalidURL},
		{"ErrSpace", "https://exa mple.com/", msgInvalidURL},
		{"ErrNewline", "https://example.com/\n", msgInvalidURL},

		// Ports.
		{"ErrPortTooLarge", "http://a:99999/", msgInvalidURL},
		{"ErrPort65536", "http://a:65536/", msgInvalidURL},
		{"ErrPortOverflow", "http://a:99999999999999999999999/", msgInvalidURL},
		{"ErrPortZero", "http://a:0/", msgInvalidURL},
		{"ErrPortEmpty", "http://a:/", msgInvalidURL},
		{"ErrPortEmptyIPv6", "http://[2606:4700:4700::1111]:/", msgInvalidURL},
		{"ErrPortNonNumeric", "http://a:http/", msgInvalidURL},
		{"ErrPortSigned", "http://a:+80/", msgInvalidURL},
		{"ErrPortTwice", "http://a:80:80/", msgInvalidURL},

		// Unicode spaces, controls and format characters in the host.
		{"ErrHostLineSeparator", "https://exa\u2028mple.com/", msgInvalidURL},
		{"ErrHostParagraphSeparator", "https://exa\u2029mple.com/", msgInvalidURL},
		{"ErrHostNoBreakSpace", "https://exa\u00a0mple.com/", msgInvalidURL},
		{"ErrHostIdeographicSpace", "https://exa\u3000mple.com/", msgInvalidURL},
		{"ErrHostZeroWidthSpace", "https://exa\u200bmple.com/", msgInvalidURL},
		{"ErrHostByteOrderMark", "https://\ufeffexample.com/", msgInvalidURL},
		{"ErrHostRightToLeftOverride", "https://exa\u202emple.com/", msgInvalidURL},
		{"ErrHostSoftHyphen", "https://exa\u00admple.com/", msgInvalidURL},
		{"ErrHostNextLine", "https://exa\u0085mple.com/", msgInvalidURL},
		{"ErrHostZeroWidthSpaceInUnicodeName", "https://b\u00fc\u200bcher.example/", msgInvalidURL},
		{"ErrHostPercentEncodedNoBreakSpace", "https://exa%C2%A0mple.com/", msgInvalidURL},
		{"ErrHostPercentEncodedInvalidUTF8", "https://exa%FFmple.com/", msgInvalidURL},
		{"ErrHostIdeographicFullStop", "https://example\u3002com/", msgInvalidURL},
		{"ErrHostSymbol", "https://\u2603.example/", msgInvalidURL},

		// Other characters that are in no host name.
		{"ErrHostUnderscore", "https://my_hook.example.com/", msgInvalidURL},
		{"ErrHostLessThan", "https://exa<mple.com/", msgInvalidURL},
		{"ErrHostSemicolon", "https://exa;mple.com/", msgInvalidURL},
		{"ErrHostComma", "https://exa,mple.com/", msgInvalidURL},
		{"ErrHostAsterisk", "https://*.example.com/", msgInvalidURL},
		{"ErrHostExclamation", "https://exa!mple.com/", msgInvalidURL},
		{"ErrHostPercent", "https://exa%25mple.com/", msgInvalidURL},
		{"ErrHostEscapedASCII", "https://exa%41mple.com/", msgInvalidURL},

		// DNS name shape.
		{"ErrLabelLeadingHyphen", "https://-example.com/", msgInvalidURL},
		{"ErrLabelTrailingHyphen", "https://example-.com/", msgInvalidURL},
		{"ErrLabelEmpty", "https://example..com/", msgInvalidURL},
		{"ErrLeadingDot", "https://.example.com/", msgInvalidURL},
		{"ErrDotOnly", "https://./", msgInvalidURL},
		{"ErrTwoTrailingDots", "https://example.com../", msgInvalidURL},
		{"ErrLabel64", "https://" + label63 + "a.example/", msgInvalidURL},
		{"ErrName254", "https://" + name253 + "b/", msgInvalidURL},
		{"ErrNumericTLD", "https://1.2.3/", msgInvalidURL},
		{"ErrDecimalIPv4", "http://2130706433/", msgInvalidURL},
		{"ErrOctalIPv4", "http://0177.0.0.1/", msgInvalidURL},
		{"ErrLeadingZeroIPv4", "http://010.0.0.1/", msgInvalidURL},
		{"ErrHexIPv4", "http://0x7f.1/", msgInvalidURL},
		{"ErrHexIPv4UpperCase", "http://0X7F000001/", msgInvalidURL},
		{"ErrIPv4TooManyParts", "http://1.2.3.4.5/", msgInvalidURL},
		{"ErrIPv4OutOfRange", "http://256.1.1.1/", msgInvalidURL},

		// IP literals.
		{"ErrIPv6Zone", "http://[fe80::1%25eth0]/", msgInvalidURL},
		{"ErrIPv6Unbracketed", "http://2606:4700::1111/", msgInvalidURL},
		{"ErrIPv4Bracketed", "http://[93.184.216.34]/", msgInvalidURL},
		{"ErrIPvFuture", "http://[v1.x]/", msgInvalidURL},
		{"ErrIPv6Unclosed", "http://[::1/", msgInvalidURL},

		// Internationalized names are asked for in their ASCII form.
		{"ErrUnicodeHost", "https://b\u00fccher.example/", msgURLUnicodeHost},
		{"ErrUnicodeHostPercentEncoded", "https://b%C3%BCcher.example/", msgURLUnicodeHost},
		{"ErrUnicodeHostFullwidth", "https://\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com/", msgURLUnicodeHost},
		{"ErrUnicodeHostCombiningMark", "https://cafe\u0301.example/", msgURLUnicodeHost},

		// Userinfo and fragments.
		{"ErrUserinfo", "https://user:pass@example.com/", msgURLUserinfo},
		{"ErrUserinfoUserOnly", "https://user@example.com/", msgURLUserinfo},
		{"ErrUserinfoEmpty", "https://@example.com/", msgURLUserinfo},
		{"ErrUserinfoEscaped", "https://us%40er:p%3Ass@example.com/", msgURLUserinfo},
		{"Fragment", "https://example.com/h#section", ""},
		{"FragmentEmpty", "https://example.com/h#", ""},
		{"FragmentAfterQuery", "https://example.com/h?a=b#c", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := hookURLProblem(tt.url); got != tt.want {
				t.Fatalf("hookURLProblem(%q) = %q, want %q", tt.url, got, tt.want)
			}
		})
	}
}

// TestHookURLFields checks that the Service Hook url and the Sentry App
// webhookUrl and redirectUrl answer a refused URL with hookURLProblem's
// message against the field.
func TestHookURLFields(t *testing.T) {
	t.Parallel()
	tok := &herald.Token{Scopes: herald.Scopes}
	tests := []struct {
		name  string
		field string
		url   string
		want  string
	}{
		{"HookPort", "url", "http://a:99999/", msgInvalidURL},
		{"HookLineSeparator", "url", "https://exa\u2028mple.com/", msgInvalidURL},
		{"HookUserinfo", "url", "https://user:pass@example.com/", msgURLUserinfo},
		{"HookUnicodeHost", "url", "https://b\u00fccher.example/", msgURLUnicodeHost},
		{"AppWebhookPort", "webhookUrl", "http://a:0/", msgInvalidURL},
		{"AppWebhookZeroWidthSpace", "webhookUrl", "https://exa\u200bmple.com/", msgInvalidURL},
		{"AppWebhookUserinfo", "webhookUrl", "https://user:pass@example.com/", msgURLUserinfo},
		{"AppRedirectEmptyPort", "redirectUrl", "https://example.com:/", msgInvalidURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var err error
			if tt.field == "url" {
				events := []string{herald.HookEventCreated}
				_, err = (&hookInput{URL: &tt.url, Events: &events}).validate(true)
			} else {
				name, author, ok := "Pager", "Acme", "https://pager.example/h"
				in := &appInput{Name: &name, Author: &author, WebhookURL: &ok}
				if tt.field == "webhookUrl" {
					in.WebhookURL = &tt.url
				} else {
					in.RedirectURL = &tt.url
				}
				_, err = in.validate(&herald.SentryApp{Status: herald.AppUnpublished}, true, &auth{token: tok})
			}
			var re *responseError
			if !errors.As(err, &re) {
				t.Fatalf("validate error = %v, want a field error", err)
			}
			fields, _ := re.body.(map[string][]string)
			if got := fields[tt.field]; len(got) != 1 || got[0] != tt.want {
				t.Fatalf("%s errors = %q, want [%q] (all: %v)", tt.field, got, tt.want, re.body)
			}
		})
	}
}

// FuzzHookURLProblem checks what hookURLProblem accepts: an http or https
// URL with no userinfo, a port of 1 to 65535 if any, and a host
// that is an IP address or an ASCII name of letters, digits, hyphens and dots.
func FuzzHookURLProblem(f *testing.F) {
	for _, s := range []string{
		"https://example.com/h", "http://a:99999/", "http://[::1]:8080/", "http://[fe80::1%25eth0]/",
		"https://exa\u2028mple.com/", "https://b\u00fccher.example/", "http://0x7f.1/", "http://u:p@a/#f",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if !utf8.ValidString(raw) || hookURLProblem(raw) != "" {
			return
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil {
			t.Fatalf("accepted %q", raw)
		}
		if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				t.Fatalf("accepted %q with port %q", raw, p)
			}
		}
		host := u.Hostname()
		if host == "" || strings.ContainsFunc(host, func(r rune) bool {
			switch {
			case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '-', r == '.', r == ':':
				return false
			}
			return true
		}) {
			t.Fatalf("accepted %q with host %q", raw, host)
		}
		if strings.Contains(host, ":") && !strings.HasPrefix(u.Host, "[") {
			t.Fatalf("accepted %q with unbracketed host %q", raw, host)
		}
	})
}
