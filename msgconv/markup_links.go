package msgconv

import (
	"strings"
	"unicode"

	"golang.org/x/net/publicsuffix"
)

// This file recognises the text WhatsApp shows as a link, whose characters are never markup: a URL
// with a scheme or "www.", an e-mail address, and a bare domain name with an ICANN top-level domain
// ("example.org/_draft_/notes.txt") or an IPv4 address ("10.0.0.1/_x_"), optionally followed by a
// port and a path. WhatsApp's apps
// linkify by top-level domain, so "notes.txt" alone is text while "example.org" is a link; the
// public suffix list (golang.org/x/net/publicsuffix) stands in for their list of domains.

var urlPrefixes = []string{"https://", "http://", "www."}

// urlLen returns the length of a link starting at i in the line src[lo:end], or 0. A link starts at
// a word boundary and runs to the next whitespace, minus trailing punctuation.
func (p *parser) urlLen(i, end, lo int) int {
	c := p.src[i]
	if !isHostByte(c) && !isLocalPartByte(c) {
		return 0
	}
	if i > lo {
		prev := lastRune(p.src[lo:i])
		if isWordRune(prev) || prev < 0x80 && (isHostByte(byte(prev)) || isLocalPartByte(byte(prev)) || prev == '@') {
			return 0
		}
	}
	rest := p.src[i:end]
	for _, prefix := range urlPrefixes {
		if len(rest) > len(prefix) && strings.EqualFold(rest[:len(prefix)], prefix) {
			return linkTail(rest, len(prefix), true)
		}
	}
	if n := emailLen(rest); n > 0 {
		return n
	}
	if n := domainLen(rest); n > 0 {
		return linkTail(rest, n, false)
	}
	if n := ipv4Len(rest); n > 0 {
		return linkTail(rest, n, false)
	}
	return 0
}

// ipv4Len returns the length of an IPv4 address (four decimal numbers of 0 to 255 joined by dots)
// at the start of s, or 0; WhatsApp's apps show one, with a port or path, as a link.
func ipv4Len(s string) int {
	n := 0
	for part := range 4 {
		if part > 0 {
			if n >= len(s) || s[n] != '.' {
				return 0
			}
			n++
		}
		start, value := n, 0
		for n < len(s) && n-start < 3 && s[n] >= '0' && s[n] <= '9' {
			value = value*10 + int(s[n]-'0')
			n++
		}
		if n == start || value > 255 {
			return 0
		}
	}
	if n < len(s) && (isHostByte(s[n]) && !(s[n] == '.' && (n+1 == len(s) || !isHostByte(s[n+1])))) {
		return 0 // more of a longer name or number, e.g. 1.2.3.4.5 or 1.2.3.4a
	}
	return n
}

// linkTail extends a link whose host ends at n to the next whitespace (always after a scheme, else
// only when a port, path, query or fragment follows the host), then trims the trailing punctuation
// WhatsApp leaves out of links (and a closing parenthesis that opens nowhere in it).
func linkTail(rest string, n int, scheme bool) int {
	if !scheme && n < len(rest) && rest[n] != '/' && rest[n] != ':' && rest[n] != '?' && rest[n] != '#' {
		return n
	}
	if k := strings.IndexFunc(rest, unicode.IsSpace); k >= 0 {
		rest = rest[:k]
	}
	url := strings.TrimRight(rest, ".,;:!?'\"*_~`>")
	if strings.HasSuffix(url, ")") && !strings.Contains(url, "(") {
		url = strings.TrimRight(url, ")")
	}
	if scheme && len(url) <= n {
		return 0
	}
	return max(len(url), n)
}

// domainLen returns the length of a domain name (labels of letters, digits and hyphens joined by
// dots, at least two labels) at the start of s whose last label is an ICANN top-level domain, or 0.
func domainLen(s string) int {
	n := 0
	for n < len(s) && isHostByte(s[n]) {
		n++
	}
	host := strings.TrimRight(s[:n], ".-")
	if !strings.Contains(host, ".") || strings.Contains(host, "..") || strings.HasPrefix(host, ".") {
		return 0
	}
	tld := host[strings.LastIndexByte(host, '.')+1:]
	if len(tld) < 2 || strings.IndexFunc(tld, func(r rune) bool { return !unicode.IsLetter(r) }) >= 0 {
		return 0
	}
	if _, icann := publicsuffix.PublicSuffix(strings.ToLower(host)); !icann {
		return 0
	}
	return len(host)
}

// emailLen returns the length of an e-mail address at the start of s, or 0.
func emailLen(s string) int {
	at := 0
	for at < len(s) && isLocalPartByte(s[at]) {
		at++
	}
	if at == 0 || at >= len(s) || s[at] != '@' {
		return 0
	}
	n := domainLen(s[at+1:])
	if n == 0 {
		return 0
	}
	return at + 1 + n
}

func isHostByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.'
}

func isLocalPartByte(c byte) bool {
	return isHostByte(c) || c == '_' || c == '+' || c == '%'
}
