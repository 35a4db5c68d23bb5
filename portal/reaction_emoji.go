package portal

import "go.mau.fi/util/variationselector"

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
