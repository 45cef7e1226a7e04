package fsop

import (
	"errors"

	"golang.org/x/sys/windows"
)

// InUse reports whether err is Windows refusing to remove or rename a file
// that another handle holds open without FILE_SHARE_DELETE (package os
// opens files so): ERROR_SHARING_VIOLATION. Such a file is in use, not
// stale, and stays until that handle is closed.
func InUse(err error) bool { return errors.Is(err, windows.ERROR_SHARING_VIOLATION) }
