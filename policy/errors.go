package policy

import "errors"

// ErrUnknownPolicy is wrapped by Parse when the name is not a policy.
var ErrUnknownPolicy = errors.New("unknown policy")

// ErrInvalidAppVersion is wrapped by ParseAppVersion when the text is not a
// semantic version.
var ErrInvalidAppVersion = errors.New("invalid app version")
