//! Tells rustc where libflashfftconv.so is: $FLASHFFTCONV_LIB_DIR, or the
//! repository's build folder (../../build relative to this crate).
use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=FLASHFFTCONV_LIB_DIR");
    println!("cargo:rerun-if-changed=build.rs");
    let dir = match env::var_os("FLASHFFTCONV_LIB_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../build"),
    };
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-link-lib=dylib=flashfftconv");
    // Tests and examples of this crate then find the library without
    // LD_LIBRARY_PATH. rustc-link-arg applies to this package's own targets only,
    // so crates that depend on this one are not given a path into our build tree.
    if env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os != "windows") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    }
    // Exposed to dependents' build scripts as DEP_FLASHFFTCONV_LIB_DIR.
    println!("cargo:lib_dir={}", dir.display());
}
