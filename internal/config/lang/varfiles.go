package lang

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// CheckVarFiles returns an error (the command cannot run: exit 2) when a
// --var-file is also one of the configuration files: a var-file named
// *.hcl in the configuration directory is read as configuration too, where
// each of its NAME = VALUE lines is an unsupported argument, reported with
// a snippet of the line, and its values are not variables' values but
// configuration. paths are the command-line paths files came from.
func CheckVarFiles(paths, files, varFiles []string) error {
	for _, vf := range varFiles {
		for _, f := range files {
			if !sameFile(vf, f) {
				continue
			}
			why := fmt.Sprintf("it is in the configuration directory %s and its name ends in %s, so it is read as configuration too",
				filepath.Dir(f), configSuffix(f))
			if slices.ContainsFunc(paths, func(p string) bool { return sameFile(p, vf) }) {
				why = "it is also named as a configuration file, so it is read as configuration too"
			}
			return fmt.Errorf("--var-file %s is one of the configuration's files: %s. "+
				"Move it out of the configuration directory (for example to vars/%s: directories are not read recursively), "+
				"or rename it so that its name does not end in .hcl or .hcl.json (for example to %s: a var-file is read as HCL whatever its name, as JSON when it ends in .json)",
				vf, why, filepath.Base(vf), varFileName(filepath.Base(vf)))
		}
	}
	return nil
}

// VarFileInConfigurationDir reports whether a var-file would be read as
// configuration when its directory is: its name is a configuration file's
// and another configuration file there, none of varFiles, declares a block
// (a directory of var-files alone, such as vars/dev.hcl beside
// vars/prod.hcl, is not a configuration). The language server, which
// validates the directory of each file an editor opens, checks its
// --var-file this way at start.
func VarFileInConfigurationDir(varFile string, varFiles []string) bool {
	if !IsConfigFileName(filepath.Base(varFile)) {
		return false
	}
	dir := filepath.Dir(varFile)
	files, err := FindFiles([]string{dir})
	if err != nil {
		return false
	}
	for _, f := range files {
		if slices.ContainsFunc(varFiles, func(v string) bool { return sameFile(v, f) }) {
			continue
		}
		if declaresBlocks(f) {
			return true
		}
	}
	return false
}

// declaresBlocks reports whether the file at path parses and declares a
// block of the language at its top level: a var-file has only attributes.
func declaresBlocks(path string) bool {
	src, err := ReadConfigFile(path) // never waits on a FIFO named *.hcl
	if err != nil {
		return false
	}
	e := parseFile(src, path)
	if e.file == nil || e.diags.HasErrors() {
		return false
	}
	content, _, _ := e.file.Body.PartialContent(rootSchema)
	return content != nil && len(content.Blocks) > 0
}

// sameFile reports whether a and b name the same file: the same file on
// disk, or, for files that cannot be read, the same cleaned absolute path.
func sameFile(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(sa, sb)
	}
	absA, errA := filepath.Abs(a)
	absB, errB := filepath.Abs(b)
	return errA == nil && errB == nil && absA == absB
}

func configSuffix(name string) string {
	if strings.HasSuffix(name, ".json") {
		return ".hcl.json"
	}
	return ".hcl"
}

// varFileName suggests a name for a var-file that is not a configuration
// file's: NAME.hclvars for NAME.hcl, NAME.vars.json for NAME.hcl.json.
func varFileName(name string) string {
	stem := strings.TrimSuffix(name, configSuffix(name))
	if strings.HasSuffix(name, ".json") {
		return stem + ".vars.json"
	}
	return stem + ".hclvars"
}
