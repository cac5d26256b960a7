package probe

import (
	"strings"

	"github.com/pion/logging"
)

// logfWriter sends pion's log lines to a Logf hook.
type logfWriter struct {
	logf func(format string, args ...any)
}

func (w logfWriter) Write(p []byte) (int, error) {
	w.logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// loggerFactory routes pion's warnings and errors to logf, or discards them when nil: the
// library prints nothing by itself.
func loggerFactory(logf func(format string, args ...any)) logging.LoggerFactory {
	f := logging.NewDefaultLoggerFactory()
	if logf == nil {
		f.DefaultLogLevel = logging.LogLevelDisabled
		f.Writer = discard{}
		return f
	}
	f.DefaultLogLevel = logging.LogLevelWarn
	f.Writer = logfWriter{logf}
	return f
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
