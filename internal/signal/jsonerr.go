package signal

import (
	"encoding/json"
	"errors"
)

func asTypeErr(err error, target **json.UnmarshalTypeError) bool { return errors.As(err, target) }

func isBadField(err error) bool { return errors.Is(err, ErrBadField) }
