package wasim

// The simulator signs and decrypts with libsignal from many goroutines; the import installs
// libsignal's logger before any of them exists (see the package's doc).
import _ "github.com/matrix-whatsapp/matrix-whatsapp/internal/signallog"
