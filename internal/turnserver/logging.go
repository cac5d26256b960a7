package turnserver

import (
	"fmt"
	"strings"

	"github.com/pion/logging"
)

// pionLogs routes pion's warnings and errors to Logf and drops its debug chatter. Auth
// failures are logged by the server itself, so pion's own line for them is dropped.
type pionLogs struct{ logf func(string, ...any) }

func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{logf: f.logf, scope: scope}
}

type pionLogger struct {
	logf  func(string, ...any)
	scope string
}

func (l pionLogger) emit(msg string) {
	if strings.Contains(msg, "no such user") || strings.Contains(msg, "integrity") {
		return
	}
	l.logf("turn: pion %s: %s", l.scope, msg)
}

func (pionLogger) Trace(string)          {}
func (pionLogger) Tracef(string, ...any) {}
func (pionLogger) Debug(string)          {}
func (pionLogger) Debugf(string, ...any) {}
func (pionLogger) Info(string)           {}
func (pionLogger) Infof(string, ...any)  {}
func (l pionLogger) Warn(m string)       { l.emit(m) }
func (l pionLogger) Warnf(f string, a ...any) {
	l.emit(fmt.Sprintf(f, a...))
}
func (l pionLogger) Error(m string) { l.emit(m) }
func (l pionLogger) Errorf(f string, a ...any) {
	l.emit(fmt.Sprintf(f, a...))
}
