package load

import "errors"

// Sentinel errors of the load package.
var (
	// ErrConfig means the Config is unusable (no server, bad shard, no runner).
	ErrConfig = errors.New("load: bad config")
	// ErrMerge means reports cannot be merged (different modes, overlapping shards, a
	// newer schema).
	ErrMerge = errors.New("load: cannot merge reports")
)
