package config

import "time"

// ImportConfig limits the import of WhatsApp "Export chat" archives (bridge.import). Sizes are in
// MiB; 0 (or absent) takes the default.
type ImportConfig struct {
	// MaxArchiveMB is the largest .zip or .txt accepted (default 100).
	MaxArchiveMB int `yaml:"max_archive_mb"`
	// MaxUnpackedMB is the most a .zip may unpack to, chat text and media together (default
	// 1024). It stops zip bombs.
	MaxUnpackedMB int `yaml:"max_unpacked_mb"`
	// MaxFiles is the most files a .zip may hold (default 10000).
	MaxFiles int `yaml:"max_files"`
	// TimeZone is the IANA zone of the exporting phone's clock (exports carry none), e.g.
	// "Europe/Berlin"; "" is the bridge machine's local zone.
	TimeZone string `yaml:"time_zone"`
}

// Defaults of bridge.import.
const (
	DefaultImportMaxArchiveMB  = 100
	DefaultImportMaxUnpackedMB = 1024
	DefaultImportMaxFiles      = 10000
)

// ArchiveBytes is the largest archive accepted, in bytes.
func (c ImportConfig) ArchiveBytes() int64 {
	return int64(limitOr(c.MaxArchiveMB, DefaultImportMaxArchiveMB)) << 20
}

// UnpackedBytes is the most a .zip may unpack to, in bytes.
func (c ImportConfig) UnpackedBytes() int64 {
	return int64(limitOr(c.MaxUnpackedMB, DefaultImportMaxUnpackedMB)) << 20
}

// FileLimit is the most files a .zip may hold.
func (c ImportConfig) FileLimit() int { return limitOr(c.MaxFiles, DefaultImportMaxFiles) }

// Location is the time zone of export times (validated by Config.Validate).
func (c ImportConfig) Location() *time.Location {
	if c.TimeZone == "" {
		return time.Local
	}
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return time.Local
	}
	return loc
}

func (c ImportConfig) validate(bad func(key, format string, args ...any)) {
	for key, v := range map[string]int{
		"bridge.import.max_archive_mb": c.MaxArchiveMB, "bridge.import.max_unpacked_mb": c.MaxUnpackedMB,
		"bridge.import.max_files": c.MaxFiles,
	} {
		if v < 0 {
			bad(key, "must be 0 (the default) or a positive number, got %d", v)
		}
	}
	if c.TimeZone != "" {
		if _, err := time.LoadLocation(c.TimeZone); err != nil {
			bad("bridge.import.time_zone", "is not a time zone name like Europe/Berlin: %v", err)
		}
	}
}
