//! Builds the web UI into `$OUT_DIR/dist` so a plain `cargo build` embeds the current UI: the
//! `frontend` crate compiled to wasm32 by a nested cargo (own target dir, so it never waits on the
//! outer build's lock), then `wasm-bindgen` as a library for the JS glue, plus `index.html` and
//! the assets. `UI_SKIP=1` skips the wasm step for backend-only work (the UI then will not start).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

const WASM_TARGET: &str = "wasm32-unknown-unknown";

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().expect("workspace root").to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let dist = out_dir.join("dist");
    for path in [
        "frontend/src",
        "frontend/Cargo.toml",
        "frontend/index.html",
        "shared/src",
        "shared/Cargo.toml",
        "assets",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    println!("cargo:rerun-if-env-changed=UI_SKIP");
    let _ = fs::remove_dir_all(&dist);
    fs::create_dir_all(dist.join("pkg")).expect("create dist");
    fs::copy(root.join("frontend/index.html"), dist.join("index.html")).expect("copy index.html");
    for entry in fs::read_dir(root.join("assets")).expect("assets folder") {
        let path = entry.expect("asset").path();
        if let Some(name) = path.file_name() {
            fs::copy(&path, dist.join(name)).expect("copy asset");
        }
    }
    if env::var_os("UI_SKIP").is_some() {
        println!("cargo:warning=UI_SKIP is set: the dashboard is built without its wasm bundle");
        return;
    }
    ensure_wasm_target();
    let target_root = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| out_dir.ancestors().nth(4).map(Path::to_path_buf))
        .expect("target dir");
    let wasm_dir = target_root.join("wasm-ui");
    let mut cargo = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(&root)
        .args(["rustc", "-p", "frontend", "--lib", "--crate-type", "cdylib"])
        .args(["--no-default-features", "--features", "csr"])
        .args(["--profile", "wasm-release", "--target", WASM_TARGET])
        .arg("--target-dir")
        .arg(&wasm_dir);
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_LLVM_COV",
        "LLVM_PROFILE_FILE",
    ] {
        cargo.env_remove(var);
    }
    let status = cargo.status().expect("cannot run cargo for the web UI");
    assert!(
        status.success(),
        "building the web UI (frontend, wasm32) failed"
    );
    let wasm = wasm_dir
        .join(WASM_TARGET)
        .join("wasm-release")
        .join("frontend.wasm");
    let mut bindgen = wasm_bindgen_cli_support::Bindgen::new();
    bindgen
        .input_path(&wasm)
        .web(true)
        .expect("wasm-bindgen web target")
        .typescript(false)
        .omit_default_module_path(false)
        .out_name("frontend");
    bindgen
        .generate(dist.join("pkg"))
        .expect("wasm-bindgen failed");
}

/// Installs the wasm32 target through rustup when the toolchain lacks it.
fn ensure_wasm_target() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    if Path::new(&sysroot)
        .join("lib/rustlib")
        .join(WASM_TARGET)
        .is_dir()
    {
        return;
    }
    let added = Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        added,
        "the web UI needs the {WASM_TARGET} target: run `rustup target add {WASM_TARGET}`"
    );
}
