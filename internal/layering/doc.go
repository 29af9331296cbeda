// Package layering holds only a test: the one that keeps the packages'
// dependencies pointing inward, as ARCHITECTURE.md at the module's root
// lists them. It imports nothing of the module.
package layering
