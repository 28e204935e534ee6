// Package storage makes output files durable where OUTPUT_DIR points: a
// local directory or an S3 (or S3-compatible) bucket.
//
// Every backend keeps one contract, checked for each of them by the suite in
// storagetest:
//
//   - Put returns nil only once the object is complete and would survive a
//     crash of this process (local: written, fsynced, renamed, directories
//     fsynced; S3: the store acknowledged the PUT or the completed multipart
//     upload).
//   - Readers never see a partial object: a local file appears by rename from
//     a hidden temporary name (".part-….tmp", which no "*.parquet" glob
//     matches); an S3 object appears whole when its PUT or multipart upload
//     completes.
//   - A Put on an existing key replaces the object; a failed Put leaves the
//     previous version, or nothing, and no temporary file or incomplete upload
//     behind.
//   - Puts of different keys may run concurrently.
//
// Keys are relative, slash-separated names such as
// "network_id=1/minute_timestamp=2026-11-25_12-14-00/part-view_log-00002.parquet";
// a key maps to exactly that path below the directory, or that object key
// below the bucket prefix.
package storage
