package chatexport

import (
	"regexp"
	"strings"
)

// The texts WhatsApp writes in place of media and deleted messages, in English and a few other
// languages of its apps.
var (
	// Android with media: "IMG-20231231-WA0001.jpg (file attached)", caption on the next lines.
	androidAttached = regexp.MustCompile(`^(.+?) \((?:file attached|Datei angehängt|archivo adjunto|fichier joint|file allegato|arquivo anexado)\)$`)
	// iOS with media: "<attached: 00000012-PHOTO-2023-12-31-21-41-05.jpg>".
	iosAttached = regexp.MustCompile(`^<(?:attached|Anhang|adjunto|pièce jointe|allegato|anexo): ([^>]+)>\s*(.*)$`)
	// Exported without media.
	mediaOmitted = regexp.MustCompile(`(?i)^(?:<Media omitted>|<Medien ausgeschlossen>|<Multimedia omitido>|<Médias omis>|<Media omessi>|<Mídia oculta>|(?:.*\s)?(?:image|video|audio|sticker|GIF|document|Contact card) omitted)$`)
	deleted      = regexp.MustCompile(`(?i)^(?:This message was deleted|You deleted this message|Diese Nachricht wurde gelöscht|Du hast diese Nachricht gelöscht|Se eliminó este mensaje|Eliminaste este mensaje|Ce message a été supprimé|Vous avez supprimé ce message)\.?$`)
	editedMark   = regexp.MustCompile(`\s*[\x{200e}\x{200f}]?<(?:This message was edited|Diese Nachricht wurde bearbeitet|Se editó este mensaje|Ce message a été modifié)>$`)
)

// finish fills msg from the lines of its body: the sender, and what kind of message it is.
func finish(msg *Message, body []string, ios bool) {
	first, _ := trimMarks(body[0])
	rest := body[1:]
	sender, text, hasSender := strings.Cut(first, ": ")
	if !hasSender {
		// "Alice: " with an empty text, or a system line.
		if s, ok := strings.CutSuffix(first, ":"); ok && !ios {
			sender, text, hasSender = s, "", true
		}
	}
	if !hasSender {
		msg.Kind = KindSystem
		msg.Text = strings.Join(append([]string{first}, rest...), "\n")
		return
	}
	msg.Sender = strings.TrimSpace(dropMarks(sender))
	marked := strings.HasPrefix(text, "\u200e")
	text, _ = trimMarks(text)
	full := strings.Join(append([]string{text}, rest...), "\n")
	if loc := editedMark.FindStringIndex(full); loc != nil {
		msg.Edited = true
		full = full[:loc[0]]
		lines := strings.Split(full, "\n")
		text, rest = lines[0], lines[1:]
	}
	switch {
	case deleted.MatchString(strings.TrimSpace(full)):
		msg.Kind = KindDeleted
	case mediaOmitted.MatchString(strings.TrimSpace(full)):
		msg.Kind = KindMediaOmitted
	default:
		if m := iosAttached.FindStringSubmatch(text); m != nil {
			msg.Kind, msg.Attachment = KindMedia, strings.TrimSpace(m[1])
			msg.Text = strings.Join(append(nonEmpty(m[2]), rest...), "\n")
			return
		}
		if m := androidAttached.FindStringSubmatch(dropMarks(text)); m != nil {
			msg.Kind, msg.Attachment = KindMedia, strings.TrimSpace(m[1])
			msg.Text = strings.Join(rest, "\n")
			return
		}
		msg.Kind, msg.Text = KindText, full
		if ios && marked {
			// iOS marks the texts it writes itself (group changes, security notices) with a
			// left-to-right mark; the sender is then the chat or the person who acted.
			msg.Kind = KindSystem
		}
	}
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
