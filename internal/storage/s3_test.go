package storage_test

import (
	"context"
	"errors"
	"github.com/viewlog/viewlog/internal/location"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/viewlog/viewlog/internal/childproc"
	. "github.com/viewlog/viewlog/internal/storage"
	"github.com/viewlog/viewlog/internal/storage/s3test"
	"github.com/viewlog/viewlog/internal/storage/storagetest"
)

// Objects from 5 MiB on go multipart in these tests, in parts of 5 MiB (S3's
// smallest), so that a 12 MiB object is three parts.
const (
	testPartSize  = 5 << 20
	testLargeSize = 12 << 20
)

func newS3(t *testing.T, srv *s3test.Server, bucket, prefix string, extra ...func(*config.LoadOptions) error) *S3 {
	t.Helper()
	isolateAWSEnv(t)
	s, err := NewS3(t.Context(), bucket, prefix, Options{
		MultipartThreshold: testPartSize,
		PartSize:           testPartSize,
		AWS:                append(srv.Options(), extra...),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// withTransport sends a store's requests through rt's changes to them.
func withTransport(rt func(*http.Request) (*http.Response, error)) func(*config.LoadOptions) error {
	return config.WithHTTPClient(&http.Client{Transport: roundTripper(rt)})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// withBody sends r with its body replaced by wrap(body).
func withBody(r *http.Request, wrap func(io.ReadCloser) io.ReadCloser) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return http.DefaultTransport.RoundTrip(r)
	}
	r2 := r.Clone(r.Context())
	r2.Body = wrap(r.Body)
	r2.GetBody = nil
	return http.DefaultTransport.RoundTrip(r2)
}

// trickle slows a body to about 10 MB/s, in 256 KiB steps: a part of a
// multipart upload takes half a second, long enough for a reader to fetch
// the whole object several times meanwhile.
type trickle struct {
	io.ReadCloser
	sinceSleep int
}

func (b *trickle) Read(p []byte) (int, error) {
	const step = 256 << 10
	if b.sinceSleep >= step {
		time.Sleep(25 * time.Millisecond)
		b.sinceSleep = 0
	}
	n, err := b.ReadCloser.Read(p[:min(len(p), step-b.sinceSleep)])
	b.sinceSleep += n
	return n, err
}

// breakAfter fails a body after n bytes, as a connection that breaks does.
type breakAfter struct {
	io.ReadCloser
	n int
}

var errInjected = errors.New("injected: connection broken mid-body")

func (b *breakAfter) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, errInjected
	}
	n, err := b.ReadCloser.Read(p[:min(len(p), b.n)])
	b.n -= n
	return n, err
}

func isPart(r *http.Request, n string) bool {
	return r.Method == http.MethodPut && r.URL.Query().Get("partNumber") == n
}

// openS3 is a store on a fresh bucket of srv, under the prefix "views/";
// its slow twin, whose request bodies trickle; and its failing twin, whose
// second part breaks off after 1 MiB, on every attempt.
func openS3(srv *s3test.Server) func(t *testing.T) storagetest.Backend {
	return func(t *testing.T) storagetest.Backend {
		bucket := srv.NewBucket(t)
		slow := newS3(t, srv, bucket, "views/", withTransport(func(r *http.Request) (*http.Response, error) {
			return withBody(r, func(b io.ReadCloser) io.ReadCloser { return &trickle{ReadCloser: b} })
		}))
		failing := newS3(t, srv, bucket, "views/", config.WithRetryMaxAttempts(1), withTransport(func(r *http.Request) (*http.Response, error) {
			if !isPart(r, "2") {
				return http.DefaultTransport.RoundTrip(r)
			}
			return withBody(r, func(b io.ReadCloser) io.ReadCloser { return &breakAfter{ReadCloser: b, n: 1 << 20} })
		}))
		return storagetest.Backend{
			Store:     newS3(t, srv, bucket, "views/"),
			Slow:      slow,
			Failing:   failing,
			Prefix:    "views/",
			List:      func(ctx context.Context) ([]string, error) { return srv.List(ctx, bucket, "") },
			Read:      func(ctx context.Context, name string) ([]byte, error) { return srv.Get(ctx, bucket, name) },
			Leftovers: func(ctx context.Context) ([]string, error) { return s3Leftovers(ctx, srv, bucket) },
			LargeSize: testLargeSize,
		}
	}
}

// s3Leftovers is what the store keeps that no reader lists: incomplete
// multipart uploads, and any file in the bucket's directory that is not an
// object (parts, temporary files).
func s3Leftovers(ctx context.Context, srv *s3test.Server, bucket string) ([]string, error) {
	left, err := srv.IncompleteUploads(ctx, bucket)
	if err != nil {
		return nil, err
	}
	for i, k := range left {
		left[i] = "incomplete upload: " + k
	}
	objects, err := srv.List(ctx, bucket, "")
	if err != nil {
		return nil, err
	}
	root := srv.BucketDir(bucket)
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if _, found := slices.BinarySearch(objects, filepath.ToSlash(rel)); !found {
			left = append(left, "file: "+filepath.ToSlash(rel))
		}
		return err
	})
	return left, err
}

func TestS3Contract(t *testing.T) {
	srv := s3test.Start(t)
	storagetest.TestStore(t, openS3(srv))
}

// A Put whose context is cancelled while its parts are uploading fails with
// context.Canceled, and aborts the upload although its own context is done:
// no object, no incomplete upload, no part left in the store.
func TestS3CancelMidUpload(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var partsSeen sync.Map
	s := newS3(t, srv, bucket, "", withTransport(func(r *http.Request) (*http.Response, error) {
		if isPart(r, "2") {
			partsSeen.Store("2", true)
			cancel()
		}
		return http.DefaultTransport.RoundTrip(r)
	}))
	data := make([]byte, testLargeSize)
	err := s.Put(ctx, "network_id=1/part.parquet", data)
	if _, ok := partsSeen.Load("2"); !ok {
		t.Fatal("the upload never reached its second part")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put: %v, want context.Canceled", err)
	}
	expectEmptyBucket(t, srv, bucket)
}

// The caller's deadline passing is the caller's, not a store that does not
// answer: not classified as ErrUnreachable (context.DeadlineExceeded is a
// net.Error too).
func TestS3CallerDeadlineNotClassified(t *testing.T) {
	srv := s3test.Start(t)
	s := newS3(t, srv, srv.NewBucket(t), "")
	ctx, cancel := context.WithTimeout(t.Context(), -time.Second)
	defer cancel()
	for _, err := range []error{s.Put(ctx, "k", []byte("x")), s.Check(ctx)} {
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUnreachable) {
			t.Errorf("%v: want context.DeadlineExceeded and not ErrUnreachable", err)
		}
	}
}

func expectEmptyBucket(t *testing.T, srv *s3test.Server, bucket string) {
	t.Helper()
	objects, err := srv.List(t.Context(), bucket, "")
	if err != nil || len(objects) > 0 {
		t.Errorf("objects %q, %v; want none", objects, err)
	}
	left, err := s3Leftovers(t.Context(), srv, bucket)
	if err != nil || len(left) > 0 {
		t.Errorf("left behind %q, %v; want nothing", left, err)
	}
}

// Refusals are classified, from Check and from Put (single and multipart),
// and their messages never carry the secret.
func TestS3Refusals(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	free := "http://" + childproc.FreeAddr(t)
	tests := []struct {
		name   string
		bucket string
		opts   []func(*config.LoadOptions) error
		want   error
	}{
		{"wrong secret", bucket, []func(*config.LoadOptions) error{
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(srv.AccessKey, "wrong-secret-value", "")),
		}, ErrAccessDenied},
		{"unknown access key", bucket, []func(*config.LoadOptions) error{
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("nobody", srv.SecretKey, "")),
		}, ErrAccessDenied},
		{"no credentials at all", bucket, []func(*config.LoadOptions) error{
			config.WithCredentialsProvider(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{}, errors.New("no credential source configured")
			})),
		}, ErrAccessDenied},
		{"missing bucket", "no-such-bucket", nil, ErrBucketNotFound},
		{"nothing listens", bucket, []func(*config.LoadOptions) error{
			config.WithBaseEndpoint(free), config.WithRetryMaxAttempts(2),
		}, ErrUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newS3(t, srv, tt.bucket, "views/", tt.opts...)
			errs := map[string]error{
				"Check":         s.Check(t.Context()),
				"Put":           s.Put(t.Context(), "a/b.parquet", []byte("x")),
				"multipart Put": s.Put(t.Context(), "a/c.parquet", make([]byte, testLargeSize)),
			}
			for op, err := range errs {
				if !errors.Is(err, tt.want) {
					t.Errorf("%s: %v, want %v", op, err, tt.want)
				}
				for _, other := range []error{ErrAccessDenied, ErrBucketNotFound, ErrUnreachable} {
					if other != tt.want && errors.Is(err, other) {
						t.Errorf("%s: %v is also %v", op, err, other)
					}
				}
				if err != nil && strings.Contains(err.Error(), srv.SecretKey) {
					t.Errorf("%s: the error shows the secret key", op)
				}
			}
		})
	}
	expectEmptyBucket(t, srv, bucket)
}

// The standard AWS variables alone point the store at an S3-compatible
// endpoint, with path-style addressing by default; the object lands at
// prefix/key, on the server's disk too.
func TestS3FromEnvironment(t *testing.T) {
	srv := s3test.Start(t)
	for _, endpointVar := range []string{"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"} {
		t.Run(endpointVar, func(t *testing.T) {
			bucket := srv.NewBucket(t)
			isolateAWSEnv(t)
			for k, v := range srv.Env() {
				if k == "AWS_ENDPOINT_URL_S3" {
					k = endpointVar
				}
				t.Setenv(k, v)
			}
			store, err := Open(t.Context(), "s3://"+bucket+"/views/", Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := store.String(), "s3://"+bucket+"/views (endpoint "+srv.Endpoint+")"; got != want {
				t.Errorf("String() = %q, want %q", got, want)
			}
			if err := store.Check(t.Context()); err != nil {
				t.Fatal(err)
			}
			key := "network_id=2/minute_timestamp=2026-11-25_12-14-00/part-view_log-00001.parquet"
			if err := store.Put(t.Context(), key, []byte("parquet bytes")); err != nil {
				t.Fatal(err)
			}
			if got, err := srv.Get(t.Context(), bucket, "views/"+key); err != nil || string(got) != "parquet bytes" {
				t.Fatalf("GetObject: %q, %v", got, err)
			}
			onDisk, err := os.ReadFile(filepath.Join(srv.BucketDir(bucket), "views", filepath.FromSlash(key)))
			if err != nil || string(onDisk) != "parquet bytes" {
				t.Fatalf("on the server's disk: %q, %v", onDisk, err)
			}
			expectOnly(t, srv, bucket, "views/"+key)
		})
	}
}

func expectOnly(t *testing.T, srv *s3test.Server, bucket string, keys ...string) {
	t.Helper()
	objects, err := srv.List(t.Context(), bucket, "")
	if err != nil || !slices.Equal(objects, keys) {
		t.Errorf("objects %q, %v; want %q", objects, err, keys)
	}
}

// isolateAWSEnv clears the variables of the machine's own AWS setup that
// would otherwise take part (AWS_CA_BUNDLE also refuses the tests' own
// HTTP clients).
func isolateAWSEnv(t *testing.T) {
	for _, k := range []string{"AWS_CA_BUNDLE", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
		"AWS_DEFAULT_REGION", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_REQUEST_CHECKSUM_CALCULATION"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

// Multipart uploads older than the age are aborted, younger ones and those
// outside the prefix are left to their writers.
func TestS3RemoveStale(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	for _, k := range []string{"views/a/stale.parquet", "other/b.parquet"} {
		if _, err := srv.Client().CreateMultipartUpload(t.Context(), &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(k)}); err != nil {
			t.Fatal(err)
		}
	}
	s := newS3(t, srv, bucket, "views/")
	if n, err := s.RemoveStale(t.Context(), 10*time.Minute, time.Now()); n != 0 || err != nil {
		t.Fatalf("RemoveStale of young uploads: %d, %v; want 0", n, err)
	}
	if n, err := s.RemoveStale(t.Context(), 10*time.Minute, time.Now().Add(time.Hour)); n != 1 || err != nil {
		t.Fatalf("RemoveStale an hour later: %d, %v; want 1", n, err)
	}
	left, err := srv.IncompleteUploads(t.Context(), bucket)
	if err != nil || !slices.Equal(left, []string{"other/b.parquet"}) {
		t.Fatalf("incomplete uploads %q, %v; want only the one outside the prefix", left, err)
	}
}

// S3_FORCE_PATH_STYLE: empty means path style exactly when a custom
// endpoint is set; true and false override.
func TestS3PathStyle(t *testing.T) {
	for _, tt := range []struct {
		style    location.PathStyle
		endpoint string
		want     bool
	}{
		{location.PathStyleAuto, "", false},
		{location.PathStyleAuto, "http://127.0.0.1:9000", true},
		{location.PathStyleOn, "", true},
		{location.PathStyleOff, "http://127.0.0.1:9000", false},
		{location.PathStyleOn, "http://127.0.0.1:9000", true},
	} {
		opts := []func(*config.LoadOptions) error{
			config.WithRegion("eu-west-1"),
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("k", "s", "")),
			config.WithSharedConfigFiles([]string{}), config.WithSharedCredentialsFiles([]string{}),
			config.WithEC2IMDSClientEnableState(imds.ClientDisabled),
		}
		if tt.endpoint != "" {
			opts = append(opts, config.WithBaseEndpoint(tt.endpoint))
		}
		s, err := NewS3(t.Context(), "bucket", "", Options{PathStyle: tt.style, AWS: opts})
		if err != nil {
			t.Fatal(err)
		}
		if got := UsesPathStyle(s); got != tt.want {
			t.Errorf("location.PathStyle %d, endpoint %q: path style %v, want %v", tt.style, tt.endpoint, got, tt.want)
		}
		wantString := "s3://bucket (region eu-west-1)"
		if tt.endpoint != "" {
			wantString = "s3://bucket (endpoint " + tt.endpoint + ")"
		}
		if s.String() != wantString {
			t.Errorf("String() = %q, want %q", s.String(), wantString)
		}
	}
}
