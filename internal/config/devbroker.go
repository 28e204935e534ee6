package config

import (
	"errors"
	"net"
	"strconv"
)

// DevBroker is the local development broker's configuration.
type DevBroker struct {
	Addr       string `env:"DEVBROKER_ADDR" envDefault:"127.0.0.1:9092"`
	Partitions int    `env:"DEVBROKER_PARTITIONS" envDefault:"3" forms:"an integer from 1 to 1000"`
	// DataDir, if set, keeps topics and committed offsets on disk across
	// restarts; by default everything is in memory.
	DataDir  string   `env:"DEVBROKER_DATA_DIR"`
	LogLevel LogLevel `env:"LOG_LEVEL" envDefault:"INFO" forms:"DEBUG, INFO, WARN, ERROR"`
}

// LoadDevBroker reads the development broker's configuration from environ,
// or from the process environment if environ is nil.
func LoadDevBroker(environ map[string]string) (DevBroker, error) {
	c, err := parse[DevBroker](environ)
	if err != nil {
		return c, err
	}
	var errs []error
	_, port, err := net.SplitHostPort(c.Addr)
	n, perr := strconv.Atoi(port)
	check(&errs, err == nil && perr == nil && n >= 0 && n <= 65535, "DEVBROKER_ADDR", c.Addr, "not host:port", "host:port to listen on (\"127.0.0.1:9092\")")
	check(&errs, c.Partitions >= 1 && c.Partitions <= 1000, "DEVBROKER_PARTITIONS", strconv.Itoa(c.Partitions), "out of range", "an integer from 1 to 1000")
	return c, errors.Join(errs...)
}
