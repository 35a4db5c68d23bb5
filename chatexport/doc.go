// Package chatexport reads the archives WhatsApp's "Export chat" writes: a plain .txt of the chat,
// or a .zip holding that text and the chat's media files.
//
// Parse turns the text into Messages. It knows the two line layouts of WhatsApp's apps and their
// locale variants:
//
//	Android: 31/12/2023, 21:41 - Alice: Hello        12/31/23, 9:41 PM - Alice: Hello
//	         31.12.23, 21:41 - Alice: Hello          2023-12-31 21:41 - Alice: Hello
//	iOS:     [31/12/2023, 21:41:05] Alice: Hello     [12/31/23, 9:41:05 PM] Alice: Hello
//
// with 12- or 24-hour clocks, day/month or month/day order (decided from the whole file: a field
// above 12 settles it, otherwise the order under which the messages run forwards in time), "/", "."
// or "-" as date separators, optional seconds, no-break and narrow no-break spaces before AM/PM,
// and the left-to-right and right-to-left marks WhatsApp puts before lines and system texts. A line
// that does not start a message continues the previous one (multi-line messages). Lines before the
// first message, and headers whose date or time cannot be read, are returned as Unparsed.
//
// Invariants: Messages are in file order; every input line is part of exactly one Message or one
// Unparsed line (blank lines before the first message aside); Parse never fails on text, it
// returns ErrUnknownFormat only when no line at all starts a message.
//
// The export carries no time zone: times are the exporting phone's wall clock and are placed in
// the Location the caller gives.
package chatexport
