package herald

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestURLProblem checks the URLs Service Hooks and Sentry Apps accept,
// and the message each refused one gets.
func TestURLProblem(t *testing.T) {
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
		{"ErrBlank", "", MsgBlank},
		{"ErrTooLong", "https://example.com/" + strings.Repeat("a", 2048), "Ensure this field has no more than 2048 characters."},
		{"ErrNotURL", "not a url", MsgInvalidURL},
		{"ErrScheme", "ftp://example.com/h", MsgInvalidURL},
		{"ErrNoHost", "https:///h", MsgInvalidURL},
		{"ErrRelative", "/hook", MsgInvalidURL},
		{"ErrOpaque", "http:example.com", MsgInvalidURL},
		{"ErrSpace", "https://exa mple.com/", MsgInvalidURL},
		{"ErrNewline", "https://example.com/\n", MsgInvalidURL},

		// Ports.
		{"ErrPortTooLarge", "http://a:99999/", MsgInvalidURL},
		{"ErrPort65536", "http://a:65536/", MsgInvalidURL},
		{"ErrPortOverflow", "http://a:99999999999999999999999/", MsgInvalidURL},
		{"ErrPortZero", "http://a:0/", MsgInvalidURL},
		{"ErrPortEmpty", "http://a:/", MsgInvalidURL},
		{"ErrPortEmptyIPv6", "http://[2606:4700:4700::1111]:/", MsgInvalidURL},
		{"ErrPortNonNumeric", "http://a:http/", MsgInvalidURL},
		{"ErrPortSigned", "http://a:+80/", MsgInvalidURL},
		{"ErrPortTwice", "http://a:80:80/", MsgInvalidURL},

		// Unicode spaces, controls and format characters in the host.
		{"ErrHostLineSeparator", "https://exa\u2028mple.com/", MsgInvalidURL},
		{"ErrHostParagraphSeparator", "https://exa\u2029mple.com/", MsgInvalidURL},
		{"ErrHostNoBreakSpace", "https://exa\u00a0mple.com/", MsgInvalidURL},
		{"ErrHostIdeographicSpace", "https://exa\u3000mple.com/", MsgInvalidURL},
		{"ErrHostZeroWidthSpace", "https://exa\u200bmple.com/", MsgInvalidURL},
		{"ErrHostByteOrderMark", "https://\ufeffexample.com/", MsgInvalidURL},
		{"ErrHostRightToLeftOverride", "https://exa\u202emple.com/", MsgInvalidURL},
		{"ErrHostSoftHyphen", "https://exa\u00admple.com/", MsgInvalidURL},
		{"ErrHostNextLine", "https://exa\u0085mple.com/", MsgInvalidURL},
		{"ErrHostZeroWidthSpaceInUnicodeName", "https://b\u00fc\u200bcher.example/", MsgInvalidURL},
		{"ErrHostPercentEncodedNoBreakSpace", "https://exa%C2%A0mple.com/", MsgInvalidURL},
		{"ErrHostPercentEncodedInvalidUTF8", "https://exa%FFmple.com/", MsgInvalidURL},
		{"ErrHostIdeographicFullStop", "https://example\u3002com/", MsgInvalidURL},
		{"ErrHostSymbol", "https://\u2603.example/", MsgInvalidURL},

		// Other characters that are in no host name.
		{"ErrHostUnderscore", "https://my_hook.example.com/", MsgInvalidURL},
		{"ErrHostLessThan", "https://exa<mple.com/", MsgInvalidURL},
		{"ErrHostSemicolon", "https://exa;mple.com/", MsgInvalidURL},
		{"ErrHostComma", "https://exa,mple.com/", MsgInvalidURL},
		{"ErrHostAsterisk", "https://*.example.com/", MsgInvalidURL},
		{"ErrHostExclamation", "https://exa!mple.com/", MsgInvalidURL},
		{"ErrHostPercent", "https://exa%25mple.com/", MsgInvalidURL},
		{"ErrHostEscapedASCII", "https://exa%41mple.com/", MsgInvalidURL},

		// DNS name shape.
		{"ErrLabelLeadingHyphen", "https://-example.com/", MsgInvalidURL},
		{"ErrLabelTrailingHyphen", "https://example-.com/", MsgInvalidURL},
		{"ErrLabelEmpty", "https://example..com/", MsgInvalidURL},
		{"ErrLeadingDot", "https://.example.com/", MsgInvalidURL},
		{"ErrDotOnly", "https://./", MsgInvalidURL},
		{"ErrTwoTrailingDots", "https://example.com../", MsgInvalidURL},
		{"ErrLabel64", "https://" + label63 + "a.example/", MsgInvalidURL},
		{"ErrName254", "https://" + name253 + "b/", MsgInvalidURL},
		{"ErrNumericTLD", "https://1.2.3/", MsgInvalidURL},
		{"ErrDecimalIPv4", "http://2130706433/", MsgInvalidURL},
		{"ErrOctalIPv4", "http://0177.0.0.1/", MsgInvalidURL},
		{"ErrLeadingZeroIPv4", "http://010.0.0.1/", MsgInvalidURL},
		{"ErrHexIPv4", "http://0x7f.1/", MsgInvalidURL},
		{"ErrHexIPv4UpperCase", "http://0X7F000001/", MsgInvalidURL},
		{"ErrIPv4TooManyParts", "http://1.2.3.4.5/", MsgInvalidURL},
		{"ErrIPv4OutOfRange", "http://256.1.1.1/", MsgInvalidURL},

		// IP literals.
		{"ErrIPv6Zone", "http://[fe80::1%25eth0]/", MsgInvalidURL},
		{"ErrIPv6Unbracketed", "http://2606:4700::1111/", MsgInvalidURL},
		{"ErrIPv4Bracketed", "http://[93.184.216.34]/", MsgInvalidURL},
		{"ErrIPvFuture", "http://[v1.x]/", MsgInvalidURL},
		{"ErrIPv6Unclosed", "http://[::1/", MsgInvalidURL},

		// Internationalized names are asked for in their ASCII form.
		{"ErrUnicodeHost", "https://b\u00fccher.example/", MsgURLUnicodeHost},
		{"ErrUnicodeHostPercentEncoded", "https://b%C3%BCcher.example/", MsgURLUnicodeHost},
		{"ErrUnicodeHostFullwidth", "https://\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com/", MsgURLUnicodeHost},
		{"ErrUnicodeHostCombiningMark", "https://cafe\u0301.example/", MsgURLUnicodeHost},

		// Userinfo and fragments.
		{"ErrUserinfo", "https://user:pass@example.com/", MsgURLUserinfo},
		{"ErrUserinfoUserOnly", "https://user@example.com/", MsgURLUserinfo},
		{"ErrUserinfoEmpty", "https://@example.com/", MsgURLUserinfo},
		{"ErrUserinfoEscaped", "https://us%40er:p%3Ass@example.com/", MsgURLUserinfo},
		{"Fragment", "https://example.com/h#section", ""},
		{"FragmentEmpty", "https://example.com/h#", ""},
		{"FragmentAfterQuery", "https://example.com/h?a=b#c", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := URLProblem(tt.url); got != tt.want {
				t.Fatalf("URLProblem(%q) = %q, want %q", tt.url, got, tt.want)
			}
		})
	}
}

// FuzzURLProblem checks what URLProblem accepts: an http or https
// URL with no userinfo, a port of 1 to 65535 if any, and a host
// that is an IP address or an ASCII name of letters, digits, hyphens and dots.
func FuzzURLProblem(f *testing.F) {
	for _, s := range []string{
		"https://example.com/h", "http://a:99999/", "http://[::1]:8080/", "http://[fe80::1%25eth0]/",
		"https://exa\u2028mple.com/", "https://b\u00fccher.example/", "http://0x7f.1/", "http://u:p@a/#f",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if !utf8.ValidString(raw) || URLProblem(raw) != "" {
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
