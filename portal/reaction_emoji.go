package portal

import (
	"unicode"

	"go.mau.fi/util/variationselector"
)

// WhatsApp's apps send and group reactions by the exact emoji without the emoji presentation
// selector (U+FE0F), while Matrix clients send it and group by the exact key, so "❤" and "❤️" would
// show as two reactions. The bridge strips the selector on the way to WhatsApp and adds it, wherever
// Unicode's emoji-variation-sequences allow one, on the way to Matrix (the table of
// go.mau.fi/util/variationselector, which follows the Matrix spec's recommendation).

// reactionToWhatsApp is the emoji as WhatsApp's apps send it.
func reactionToWhatsApp(key string) string {
	return variationselector.Remove(key)
}

// reactionToMatrix is the reaction key as Matrix clients send it.
func reactionToMatrix(emoji string) string {
	return variationselector.Add(emoji)
}

// maxReactionBytes bounds a reaction key WhatsApp is sent (bytes of UTF-8): the longest emoji,
// family and subdivision-flag sequences, take 25-35.
const maxReactionBytes = 64

// looksLikeEmoji reports whether a Matrix reaction key can be a WhatsApp reaction, whose apps show
// one emoji per reaction (WhatsApp's Cloud API refuses anything else). Without an emoji table it
// takes a key of at most maxReactionBytes without letters or digits, except those an emoji is made
// of: a letter or digit followed by the emoji presentation selector (U+FE0F, as in ℹ️) or the
// combining keycap (U+20E3, as in 1️⃣). So "lol" and "+1" are refused, and so is a long string
// of emoji.
func looksLikeEmoji(key string) bool {
	if key == "" || len(key) > maxReactionBytes {
		return false
	}
	runes := []rune(key)
	for i, r := range runes {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			continue
		}
		if i+1 >= len(runes) || (runes[i+1] != 0xFE0F && runes[i+1] != 0x20E3) {
			return false
		}
	}
	return true
}
