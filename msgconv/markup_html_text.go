package msgconv

import (
	"strings"

	"golang.org/x/net/html"
)

// Helpers of the Matrix HTML to WhatsApp markup writer: quoting, code and the text of HTML nodes.

// quote prefixes every line with "> " (an empty line gets a lone ">").
func quote(text string) string {
	if text == "" {
		return ""
	}
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		if line == "" {
			lines[i] = ">"
		} else {
			lines[i] = "> " + line
		}
	}
	return strings.Join(lines, "\n")
}

// inlineCode writes `code`, or ```code``` when single backticks cannot hold
// the content (backticks, newlines or spaces at its edges).
func inlineCode(code string) string {
	code = cleanText(code)
	switch {
	case code == "":
		return ""
	case strings.ContainsAny(code, "`\n") || strings.TrimSpace(code) != code:
		return fence + keepBeforeFence(code) + fence
	}
	return "`" + code + "`"
}

// codeBlock writes ```code```. A single trailing newline, which Matrix
// clients add to code blocks, is dropped unless the code also starts with a
// newline (then both are deliberate).
func codeBlock(code string) string {
	if strings.TrimSpace(code) == "" {
		return ""
	}
	if strings.HasSuffix(code, "\n") && !strings.HasPrefix(code, "\n") {
		code = code[:len(code)-1]
	}
	return fence + keepBeforeFence(code) + fence
}

// keepBeforeFence returns code with a space after a backtick it ends with, which the closing ```
// would otherwise take as its first ("```x````" closes after x).
func keepBeforeFence(code string) string {
	if strings.HasSuffix(code, "`") {
		return code + " "
	}
	return code
}

// rawText is the text content of n with <br> as newlines and whitespace kept.
func rawText(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		switch {
		case n.Type == html.TextNode:
			b.WriteString(n.Data)
		case n.Type == html.ElementNode && n.Data == "br":
			b.WriteByte('\n')
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// cleanText handles the whitespace of an HTML text node: a run of whitespace
// containing a newline is dropped at the start or end of the node (it is
// source formatting between tags) and becomes one space inside it. Other
// spaces are kept, so that "a  b" survives a round trip.
func cleanText(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if !isHTMLSpace(s[i]) {
			b.WriteByte(s[i])
			i++
			continue
		}
		j := i
		for j < len(s) && isHTMLSpace(s[j]) {
			j++
		}
		run := s[i:j]
		switch {
		case !strings.ContainsAny(run, "\r\n"):
			b.WriteString(run)
		case i > 0 && j < len(s):
			b.WriteByte(' ')
		}
		i = j
	}
	return b.String()
}

func isHTMLSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
