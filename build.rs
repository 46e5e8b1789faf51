//! Embeds every `src/model/schema/*.schema` file so the binary carries its model.
use std::{env, fs, path::Path};

fn main() {
    // The commit `calicoctl version` prints.
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=CALICOCTL_GIT_COMMIT={commit}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    let dir = Path::new("src/model/schema");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = fs::read_dir(dir)
        .expect("schema dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "schema"))
        .collect();
    files.sort();
    let mut out = String::from(
        "/// Embedded schema sources: (file name, text).\npub static SCHEMA_SOURCES: &[(&str, &str)] = &[\n",
    );
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        // Relative to the package, not an absolute path: a build script output reused from
        // another checkout sharing the target dir (scripts/fresh-clone.sh) must still resolve.
        let name = f.file_name().unwrap().to_string_lossy();
        out.push_str(&format!(
            "    ({name:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/src/model/schema/{name}\"))),\n",
        ));
    }
    out.push_str("];\n");
    let dest = Path::new(&env::var("OUT_DIR").unwrap()).join("schema_files.rs");
    fs::write(dest, out).expect("write schema_files.rs");
}
