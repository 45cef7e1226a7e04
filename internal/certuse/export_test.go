package certuse

import (
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/model"
)

// ListWithRollover is List for a group whose signing_rollover has
// certificate and at: the model of this branch has no such block yet.
func ListWithRollover(cfg *model.Config, opts Options, certificate string, at time.Time) []Need {
	return list(cfg, opts, func(*model.Group) (rollover, bool) {
		return rollover{certificate: model.Known(certificate, hcl.Range{}), at: model.Known(at, hcl.Range{})}, true
	})
}
