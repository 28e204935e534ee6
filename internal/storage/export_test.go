package storage

import "os"

// SetWrite replaces how l writes a temporary file's data, so that a test
// can fail a write midway as a full disk does.
func SetWrite(l *Local, write func(f *os.File, data []byte) (int, error)) { l.write = write }

// UsesPathStyle reports whether s addresses its bucket in the URL path.
func UsesPathStyle(s *S3) bool { return s.client.Options().UsePathStyle }
