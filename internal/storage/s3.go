package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/viewlog/viewlog/internal/location"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/logging"
)

// Options tune Open and NewS3. The zero value is the default; a directory
// store ignores them.
type Options struct {
	// PathStyle is S3_FORCE_PATH_STYLE.
	PathStyle location.PathStyle
	// Logger receives the AWS SDK's warnings; nil discards them.
	Logger *slog.Logger
	// MultipartThreshold is the size from which an object is uploaded in
	// parts; zero means 16 MiB. Below it, one PUT.
	MultipartThreshold int64
	// PartSize is the size of each part of a multipart upload; zero means
	// 8 MiB. S3 requires at least 5 MiB (all parts but the last).
	PartSize int64
	// AWS are options for the SDK's configuration loader, applied over what
	// it reads from the environment and the shared config files. Tests use
	// them to set credentials, an endpoint or an HTTP client.
	AWS []func(*config.LoadOptions) error
}

const (
	minPartSize = 5 << 20
	// abortTimeout bounds the AbortMultipartUpload sent after a failed
	// upload. It runs on a fresh context, since the failure may be the
	// caller's context being cancelled.
	abortTimeout = 30 * time.Second
	// checkObject is the object Check writes and deletes. It starts with a dot
	// so that no reader of the dataset sees it should the delete be refused.
	checkObject = ".viewlog-write-check"
)

// S3 writes objects to a bucket of S3 or an S3-compatible store, under a
// prefix. Credentials, region and endpoint come from the standard AWS
// environment variables and shared config files.
type S3 struct {
	client   *s3.Client
	uploader *transfermanager.Client
	bucket   string
	prefix   string // "" or ending in "/"
	endpoint string // custom endpoint, without user info; "" for AWS
	region   string
}

// NewS3 returns a store writing to bucket under prefix ("" or ending in a
// slash, as ParseLocation returns it). It reads the AWS configuration but
// sends nothing: Check says whether the bucket can be written.
func NewS3(ctx context.Context, bucket, prefix string, opts Options) (*S3, error) {
	if bucket == "" {
		return nil, errors.New("s3: no bucket")
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		return nil, fmt.Errorf("s3: prefix %q does not end in a slash", prefix)
	}
	if opts.PartSize != 0 && opts.PartSize < minPartSize {
		return nil, fmt.Errorf("s3: part size %d below S3's minimum of %d bytes", opts.PartSize, minPartSize)
	}
	if opts.MultipartThreshold < 0 {
		return nil, fmt.Errorf("s3: negative multipart threshold %d", opts.MultipartThreshold)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// S3-compatible stores rarely care about the region, and often have
	// none configured; AWS_REGION or a profile's region wins over this.
	load := append([]func(*config.LoadOptions) error{
		config.WithDefaultRegion("us-east-1"),
		config.WithLogger(sdkLogger(logger)),
	}, opts.AWS...)
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("s3: AWS configuration: %w", err)
	}
	if cfg.Credentials != nil {
		cfg.Credentials = markedCredentials{cfg.Credentials}
	}
	var endpoint string
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		// BaseEndpoint holds AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or a
		// profile's endpoint_url by now.
		if o.BaseEndpoint != nil {
			endpoint = *o.BaseEndpoint
		}
		o.UsePathStyle = opts.PathStyle.Resolve(endpoint != "")
	})
	uploader := transfermanager.New(client, func(o *transfermanager.Options) {
		o.MultipartUploadThreshold = opts.MultipartThreshold
		o.PartSizeBytes = opts.PartSize
		o.FailTimeout = abortTimeout
		// The transfer manager's own default would override
		// AWS_REQUEST_CHECKSUM_CALCULATION, which S3-compatible stores
		// without the newer checksums need to be able to set.
		o.RequestChecksumCalculation = cfg.RequestChecksumCalculation
	})
	return &S3{client: client, uploader: uploader, bucket: bucket, prefix: prefix,
		endpoint: redactEndpoint(endpoint), region: cfg.Region}, nil
}

// String says where the store writes, without credentials:
// "s3://bucket/prefix (endpoint http://127.0.0.1:9000)" or
// "s3://bucket/prefix (region eu-west-1)".
func (s *S3) String() string {
	where := location.Location{Scheme: "s3", Bucket: s.bucket, Prefix: s.prefix}.String()
	if s.endpoint != "" {
		return where + " (endpoint " + s.endpoint + ")"
	}
	return where + " (region " + s.region + ")"
}

// Bucket is the bucket written to.
func (s *S3) Bucket() string { return s.bucket }

// ObjectKey is the object key that key is written to.
func (s *S3) ObjectKey(key string) (string, error) {
	if err := validateKey(key); err != nil {
		return "", err
	}
	k := s.prefix + key
	if len(k) > location.MaxKeyLen {
		return "", fmt.Errorf("%w %q: %d bytes with the prefix, more than %d", ErrInvalidKey, key, len(k), location.MaxKeyLen)
	}
	return k, nil
}

// Put uploads data as the object ObjectKey(key), replacing any previous
// version: one PUT below the multipart threshold, otherwise a multipart
// upload that is completed only when every part is stored, and aborted if
// any part fails or ctx is cancelled. Either way the object appears whole
// or not at all, and Put returns nil only once the store acknowledged it.
func (s *S3) Put(ctx context.Context, key string, data []byte) error {
	k, err := s.ObjectKey(key)
	if err != nil {
		return fmt.Errorf("put: %w", err)
	}
	_, err = s.uploader.UploadObject(ctx, &transfermanager.UploadObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(k),
		Body:   bytes.NewReader(data),
	})
	if err != nil {
		return s.fail("put", k, err)
	}
	return nil
}

// Check writes and deletes a small object under the prefix, so that a
// missing bucket, refused credentials, a missing permission or an
// unreachable endpoint show at start. If the delete alone is refused, the
// object ".viewlog-write-check" stays; readers skip dot names.
func (s *S3) Check(ctx context.Context) error {
	k := s.prefix + checkObject
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(k),
		Body:   bytes.NewReader(nil),
	})
	if err != nil {
		return s.fail("check: put", k, err)
	}
	_, err = s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(k)})
	if err != nil && !errors.Is(classifyS3(err), ErrAccessDenied) {
		return s.fail("check: delete", k, err)
	}
	return nil
}

// RemoveStale aborts multipart uploads under the prefix that were started
// more than age before now: parts of uploads whose writer crashed, which
// the store keeps (and bills) until they are aborted. Younger ones may
// belong to another consumer instance uploading right now. A bucket
// lifecycle rule (AbortIncompleteMultipartUpload) does the same on the
// store's side.
func (s *S3) RemoveStale(ctx context.Context, age time.Duration, now time.Time) (int, error) {
	removed := 0
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(s.bucket), Prefix: aws.String(s.prefix)}
	for {
		out, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return removed, s.fail("list incomplete uploads under", s.prefix, err)
		}
		for _, u := range out.Uploads {
			if u.Initiated == nil || now.Sub(*u.Initiated) < age {
				continue
			}
			_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket: aws.String(s.bucket), Key: u.Key, UploadId: u.UploadId,
			})
			var gone *types.NoSuchUpload // aborted or completed meanwhile
			if errors.As(err, &gone) {
				continue
			}
			if err != nil {
				return removed, s.fail("abort incomplete upload of", aws.ToString(u.Key), err)
			}
			removed++
		}
		if !aws.ToBool(out.IsTruncated) {
			return removed, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// fail wraps err with what was being done to which object, and the class of
// the failure.
func (s *S3) fail(op, key string, err error) error {
	where := "s3://" + s.bucket + "/" + key
	if class := classifyS3(err); class != nil {
		return fmt.Errorf("%s %s: %w: %w", op, where, class, err)
	}
	return fmt.Errorf("%s %s: %w", op, where, err)
}

// markedCredentials marks a failure to obtain credentials, which the SDK
// reports as text only, so that it is classified as refused credentials.
type markedCredentials struct {
	aws.CredentialsProvider
}

// Retrieve returns the wrapped provider's credentials, its error marked.
func (m markedCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := m.CredentialsProvider.Retrieve(ctx)
	if err != nil && ctx.Err() == nil {
		return c, fmt.Errorf("%w: %w", errNoCredentials, err)
	}
	return c, err
}

// IsCredentialsProvider lets the SDK see through the wrapper, as it does for
// its own (anonymous credentials skip signing).
func (m markedCredentials) IsCredentialsProvider(target aws.CredentialsProvider) bool {
	return aws.IsCredentialsProvider(m.CredentialsProvider, target)
}

// redactEndpoint drops user info from an endpoint URL, so that String never
// prints a password.
func redactEndpoint(endpoint string) string {
	if endpoint == "" {
		return ""
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "(unparsable endpoint)"
	}
	u.User = nil
	return u.String()
}

// sdkLogger bridges the SDK's logger to slog.
func sdkLogger(log *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		level := slog.LevelDebug
		if c == logging.Warn {
			level = slog.LevelWarn
		}
		log.Log(context.Background(), level, "aws sdk: "+fmt.Sprintf(format, v...))
	})
}
