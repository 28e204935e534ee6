// Package location parses where the consumer writes (OUTPUT_DIR) and how
// it addresses a bucket (S3_FORCE_PATH_STYLE). It imports no storage
// client, so that the settings can be checked by programs that write
// nothing.
package location

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"
)

// LocationForms describes what OUTPUT_DIR accepts.
const LocationForms = `a directory path ("data/output_data", "/var/lib/viewlog"), file:///absolute/path, or s3://bucket[/prefix]`

// Location is a parsed OUTPUT_DIR.
type Location struct {
	// Scheme is "file" for a directory, "s3" for a bucket.
	Scheme string
	// Dir is the directory, as given (possibly relative), when Scheme is
	// "file".
	Dir string
	// Bucket and Prefix name the objects' place when Scheme is "s3". Prefix
	// is empty or ends in a slash; keys are appended to it.
	Bucket, Prefix string
}

// String is s3://bucket/prefix for a bucket, the directory as given for a
// directory.
func (l Location) String() string {
	if l.Scheme == "s3" {
		if l.Prefix == "" {
			return "s3://" + l.Bucket
		}
		return "s3://" + l.Bucket + "/" + strings.TrimSuffix(l.Prefix, "/")
	}
	return l.Dir
}

// LocationError is an OUTPUT_DIR that cannot be used. Its message names the
// variable and the accepted forms, as the other settings' messages do.
type LocationError struct {
	Value  string // OUTPUT_DIR as given
	Reason string // what is wrong
}

// Error names OUTPUT_DIR, the value, the reason and the accepted forms.
func (e *LocationError) Error() string {
	return fmt.Sprintf("OUTPUT_DIR=%q: %s; accepted: %s", e.Value, e.Reason, LocationForms)
}

// ParseLocation parses OUTPUT_DIR: a plain path, a file URL with an absolute
// path, or an s3 URL with a bucket and an optional prefix. It touches
// nothing: whether the place exists or can be written is Check's question.
func ParseLocation(s string) (Location, error) {
	bad := func(reason string) (Location, error) {
		return Location{}, &LocationError{Value: s, Reason: reason}
	}
	if strings.TrimSpace(s) == "" {
		return bad("empty")
	}
	scheme, rest, isURL := strings.Cut(s, "://")
	if !isURL || !validScheme(scheme) {
		// "s3:bucket" or "file:/x" are mistyped URLs, not directory names.
		for _, known := range []string{"s3:", "file:"} {
			if len(s) >= len(known) && strings.EqualFold(s[:len(known)], known) {
				return bad(fmt.Sprintf("a %s URL starts with %s//", strings.TrimSuffix(known, ":"), known))
			}
		}
		if strings.ContainsRune(s, 0) {
			return bad("contains a NUL byte")
		}
		return Location{Scheme: "file", Dir: s}, nil
	}
	switch strings.ToLower(scheme) {
	case "file":
		return parseFileURL(s, bad)
	case "s3":
		return parseS3URL(s, rest, bad)
	default:
		return bad(fmt.Sprintf("unsupported scheme %q", scheme))
	}
}

// validScheme reports whether s is a URL scheme as RFC 3986 writes it.
func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

func parseFileURL(s string, bad func(string) (Location, error)) (Location, error) {
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the rest repeats the value
		}
		return bad("not a URL: " + err.Error())
	}
	if u.Host != "" && u.Host != "localhost" {
		return bad(fmt.Sprintf("file URL with host %q (a relative path needs no URL; an absolute one is file:///path)", u.Host))
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return bad("file URL with a query, fragment or user")
	}
	if u.Path == "" || !filepath.IsAbs(u.Path) {
		return bad("file URL without an absolute path")
	}
	if strings.ContainsRune(u.Path, 0) {
		return bad("contains a NUL byte")
	}
	return Location{Scheme: "file", Dir: filepath.Clean(u.Path)}, nil
}

func parseS3URL(s, rest string, bad func(string) (Location, error)) (Location, error) {
	if strings.ContainsAny(rest, "?#") {
		return bad("s3 URL with a query or fragment")
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return bad("s3 URL without a bucket")
	}
	if !validBucket(bucket) {
		return bad(fmt.Sprintf("bucket %q is not 3 to 255 characters of a-z A-Z 0-9 . _ -", bucket))
	}
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix != "" {
		if err := CheckName(prefix); err != nil {
			return bad(fmt.Sprintf("prefix %q: %v", prefix, err))
		}
		prefix += "/"
	}
	return Location{Scheme: "s3", Bucket: bucket, Prefix: prefix}, nil
}

// validBucket accepts the characters bucket names are made of. It is looser
// than AWS's current rules (3 to 63 of a-z 0-9 . -), which S3-compatible
// stores and old buckets do not all follow; the store says whether the
// bucket exists.
func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 255 {
		return false
	}
	for _, c := range []byte(b) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// PathStyle is S3_FORCE_PATH_STYLE: whether requests name the bucket in the
// URL path (http://host/bucket/key) rather than in the host name
// (http://bucket.host/key). The zero value decides by the endpoint: path
// style for a custom endpoint (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL),
// which S3-compatible stores on one host name need; virtual-hosted style for
// AWS itself.
type PathStyle int8

// The values of PathStyle.
const (
	PathStyleAuto PathStyle = iota // by the endpoint
	PathStyleOn                    // always path style
	PathStyleOff                   // always virtual-hosted style
)

// PathStyleForms describes what S3_FORCE_PATH_STYLE accepts.
const PathStyleForms = "true or false; empty: true when AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL sets a custom endpoint"

// UnmarshalText reads true or false (as strconv.ParseBool does); an empty
// value is PathStyleAuto.
func (p *PathStyle) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	if s == "" {
		*p = PathStyleAuto
		return nil
	}
	on, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("not true or false")
	}
	*p = PathStyleOff
	if on {
		*p = PathStyleOn
	}
	return nil
}

// Resolve says whether to use path style, given whether a custom endpoint
// is set.
func (p PathStyle) Resolve(customEndpoint bool) bool {
	switch p {
	case PathStyleOn:
		return true
	case PathStyleOff:
		return false
	default:
		return customEndpoint
	}
}

// MaxKeyLen is S3's limit on an object key, in bytes; the directory backend
// keeps it too, so that a key valid for one backend is valid for both.
const MaxKeyLen = 1024

// CheckName checks a relative slash-separated name: UTF-8 (as S3 requires),
// no empty, "." or ".." element, no leading or trailing slash, no backslash
// (a separator on Windows), no control character.
func CheckName(name string) error {
	switch {
	case name == "":
		return errors.New("empty")
	case len(name) > MaxKeyLen:
		return fmt.Errorf("%d bytes, more than %d", len(name), MaxKeyLen)
	case !utf8.ValidString(name):
		return errors.New("not UTF-8")
	case strings.HasPrefix(name, "/"):
		return errors.New("absolute")
	case strings.ContainsRune(name, '\\'):
		return errors.New("contains a backslash")
	}
	for _, c := range name {
		if c < 0x20 || c == 0x7f {
			return errors.New("contains a control character")
		}
	}
	for e := range strings.SplitSeq(name, "/") {
		if e == "" || e == "." || e == ".." {
			return errors.New(`empty, "." or ".." path element`)
		}
	}
	return nil
}
