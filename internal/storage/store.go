package storage

import (
	"context"
	"fmt"
	"github.com/viewlog/viewlog/internal/location"
	"time"
)

// Store is where output objects go: a directory (Local) or a bucket (S3).
type Store interface {
	// Put makes data durable under key (a slash-separated relative key such
	// as "network_id=1/minute_timestamp=2026-11-25_12-14-00/part-view_log-00002.parquet").
	// It returns nil only once the object is complete and would survive a
	// crash; readers never see a partial object; a Put on an existing key
	// replaces it. It is safe for concurrent use with different keys.
	Put(ctx context.Context, key string, data []byte) error
	// Check reports whether the store can be written now. Its error wraps
	// ErrBucketNotFound, ErrAccessDenied or ErrUnreachable when it is one of
	// them.
	Check(ctx context.Context) error
	// RemoveStale removes what writers that crashed mid-write left behind
	// more than age before now (temporary files, incomplete multipart
	// uploads), and says how many it removed.
	RemoveStale(ctx context.Context, age time.Duration, now time.Time) (int, error)
	// String says where the store writes (an absolute directory, or
	// s3://bucket/prefix with the endpoint or region), never a secret.
	String() string
}

// Open returns the store that OUTPUT_DIR names: a directory path or
// file:///abs/path (Local), or s3://bucket/prefix (S3). An OUTPUT_DIR of
// another form is a *location.LocationError. Open sends nothing to the store: call
// Check for that.
func Open(ctx context.Context, where string, opts Options) (Store, error) {
	loc, err := location.ParseLocation(where)
	if err != nil {
		return nil, err
	}
	switch loc.Scheme {
	case "s3":
		s, err := NewS3(ctx, loc.Bucket, loc.Prefix, opts)
		if err != nil {
			return nil, err
		}
		return s, nil
	case "file":
		l, err := NewLocal(loc.Dir)
		if err != nil {
			return nil, err
		}
		return l, nil
	default:
		return nil, fmt.Errorf("storage: location scheme %q", loc.Scheme)
	}
}
