// Package deployment holds the tests that verify the Docker Compose
// deployment (docker-compose.yml, .env.example) and the Dockerfiles of the
// producer and consumer images, without a Docker engine.
//
// The Compose file is loaded with compose-go, the loader Docker Compose
// itself uses, and the Dockerfiles are parsed with BuildKit's parser. The
// tests then build the binaries with the Dockerfiles' own build command,
// from a copy of the build context that .dockerignore lets through, and run
// them with the environment Compose resolves for each service against a
// local broker, until the consumer writes Parquet files.
//
// What they cannot show is that the images build and start under Docker:
// the base images, the container user's permissions on the mounted folders
// and the broker's own startup are not exercised here.
package deployment
