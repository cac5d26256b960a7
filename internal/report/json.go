package report

import (
	"encoding/json"
	"fmt"
	"io"
)

// SchemaVersion is the "version" field of every JSON report, so CI parsers can rely on the
// shape. Bump it when a field changes meaning or disappears.
const SchemaVersion = 1

// WriteJSON writes v as indented JSON followed by a newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // "a->b" stays readable; reports are not embedded in HTML
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("report: json: %w", err)
	}
	return nil
}
