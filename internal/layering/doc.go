// Package layering holds only a test: the one that keeps the packages'
// dependencies pointing inward (DESIGN.md, "Packages"). It imports nothing.
package layering
