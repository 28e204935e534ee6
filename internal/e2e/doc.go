// Package e2e holds the end-to-end tests: the real binaries as child
// processes against a broker process, records written by kcat (librdkafka)
// and by the project's own Kafka writer, output read back with DuckDB and
// compared with values computed here, independently of the consumer's code.
package e2e
