//! Compiles the victim library and the victim executable (victims/lib, victims/exe) in two
//! versions each, and the dlopen, mmap, linked (eagerly and lazily bound) and interpreter victims
//! (victims/dlopen, victims/mmap, victims/linked, victims/interp), the victims of real library
//! releases (victims/release), the Node.js victim addon (victims/node, two versions) and the guard
//! of commands (harness/guard), with `$RUSTC`, and embeds them and the scenario catalogue
//! (scenarios/*.toml) in the harness, so that one binary carries everything it needs, on the host
//! and as PID 1 in a VM.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn rustc(source: &Path, crate_type: &str, version: u32, output: &Path, extra: &[String]) {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let mut command = Command::new(rustc);
    command
        .arg("--edition=2021")
        .arg(format!("--crate-type={crate_type}"))
        .args([
            "-C",
            "opt-level=2",
            "-C",
            "panic=abort",
            "-C",
            "strip=symbols",
        ])
        .arg("--cfg")
        .arg(format!("victim_v{version}"))
        .arg("-o")
        .arg(output)
        .args(extra)
        .arg(source);
    if crate_type == "bin" {
        // Victim programs take the unwinder from libgcc_eh.a (see `no_shared_unwinder`).
        let out = PathBuf::from(env::var("OUT_DIR").unwrap());
        command
            .arg("-L")
            .arg(format!("native={}", out.join("unwinder").display()));
    }
    if let Ok(target) = env::var("TARGET") {
        command.arg("--target").arg(target);
    }
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("cannot run rustc for {}: {e}", source.display()));
    assert!(status.success(), "rustc failed on {}", source.display());
}

/// The standard library links `-lgcc_s` for its unwinder, though no victim unwinds (they are
/// built with `panic=abort`): a victim would load `libgcc_s.so.1` at every start for nothing. A
/// linker script of that name, found first, makes the linker take the static `libgcc_eh.a` (which
/// gcc's driver finds, and Debian's gcc installs) instead.
fn no_shared_unwinder(out: &Path) {
    let dir = out.join("unwinder");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("libgcc_s.so"), "INPUT(-lgcc_eh)\n").unwrap();
}

/// Adds to `code` the constant `name` holding the bytes of `file`, documented by `doc`.
fn embed(code: &mut String, name: &str, doc: &str, file: &Path) {
    writeln!(
        code,
        "/// {doc}\npub const {name}: &[u8] = include_bytes!({file:?});"
    )
    .unwrap();
}

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.parent().unwrap().to_path_buf();
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let lib_src = root.join("victims/lib/victim_lib.rs");
    let exe_src = root.join("victims/exe/victim_exe.rs");
    let linked_src = root.join("victims/linked/victim_linked.rs");
    let linked_lazy_src = root.join("victims/linked/victim_linked_lazy.rs");
    let interp_src = root.join("victims/interp/victim_interp.rs");
    let dlopen_src = root.join("victims/dlopen/victim_dlopen.rs");
    let mmap_src = root.join("victims/mmap/victim_mmap.rs");
    let release = root.join("victims/release");
    let addon_src = root.join("victims/node/victim_addon.rs");
    let common = root.join("victims/common");
    let guard_src = manifest.join("guard/guard.rs");
    let scenarios = root.join("scenarios");
    for path in [
        &lib_src,
        &exe_src,
        &linked_src,
        &linked_lazy_src,
        &interp_src,
        &dlopen_src,
        &mmap_src,
        &release,
        &addon_src,
        &common,
        &guard_src,
        &scenarios,
    ] {
        println!("cargo:rerun-if-changed={}", path.display());
    }

    no_shared_unwinder(&out);
    let mut code = String::new();
    for version in [1, 2] {
        let lib = out.join(format!("libvictim-v{version}.so"));
        rustc(&lib_src, "cdylib", version, &lib, &[]);
        let exe = out.join(format!("victim-exe-v{version}"));
        rustc(&exe_src, "bin", version, &exe, &[]);
        let addon = out.join(format!("victim-addon-v{version}.node"));
        rustc(&addon_src, "cdylib", version, &addon, &[]);
        let of = |what: &str| format!("Version {version} of the {what}.");
        embed(
            &mut code,
            &format!("ADDON_V{version}"),
            &of("Node.js victim addon"),
            &addon,
        );
        embed(
            &mut code,
            &format!("LIB_V{version}"),
            &of("victim library"),
            &lib,
        );
        embed(
            &mut code,
            &format!("EXE_V{version}"),
            &of("victim executable"),
            &exe,
        );
    }

    // The linked victim links version 1 under the name the loader will look for at run time.
    let link_dir = out.join("link");
    fs::create_dir_all(&link_dir).unwrap();
    fs::copy(out.join("libvictim-v1.so"), link_dir.join("libvictim.so")).unwrap();
    let link_args = [
        "-L".to_string(),
        format!("native={}", link_dir.display()),
        "-C".into(),
        "link-arg=-Wl,-rpath,$ORIGIN".into(),
    ];
    let linked = out.join("victim-linked");
    rustc(&linked_src, "bin", 1, &linked, &link_args);
    // Rust links with full RELRO (`-z relro -z now`) and then calls other objects' functions
    // through GOT entries filled at start-up, never through a PLT. Partial RELRO makes rustc call
    // through the PLT and leave out `-z now`; `-z lazy` overrides a linker that defaults to now.
    let linked_lazy = out.join("victim-linked-lazy");
    let lazy_args = [
        "-C".to_string(),
        "relro-level=partial".into(),
        "-C".into(),
        "link-arg=-Wl,-z,lazy".into(),
    ];
    rustc(
        &linked_lazy_src,
        "bin",
        1,
        &linked_lazy,
        &[&link_args[..], &lazy_args].concat(),
    );
    let interp = out.join("victim-interp");
    rustc(
        &interp_src,
        "bin",
        1,
        &interp,
        &["-C".into(), "link-arg=-Wl,--dynamic-linker=ld.so".into()],
    );
    // The dlopen and mmap victims: small programs of their own, so that a trial's spawn costs an
    // exec of a few hundred KiB, not of the whole harness.
    let dlopen = out.join("victim-dlopen");
    rustc(&dlopen_src, "bin", 1, &dlopen, &[]);
    let mmap = out.join("victim-mmap");
    rustc(&mmap_src, "bin", 1, &mmap, &[]);
    embed(&mut code, "DLOPEN", "The dlopen victim.", &dlopen);
    embed(&mut code, "MMAP", "The mmap victim.", &mmap);
    embed(
        &mut code,
        "LINKED",
        "The victim executable linked against libvictim.so (DT_NEEDED, rpath $ORIGIN).",
        &linked,
    );
    embed(
        &mut code,
        "LINKED_LAZY",
        "The victim executable linked against libvictim.so with lazy binding (PLT slots bound at first call).",
        &linked_lazy,
    );
    embed(
        &mut code,
        "INTERP",
        "The victim program whose PT_INTERP is `ld.so` in its working directory.",
        &interp,
    );

    // The victims of real library releases. zlib's and SQLite's link a stand-in with the real
    // soname (the development files need not be installed) and find the real release next to
    // themselves at run time.
    let libc_victim = out.join("victim-libc");
    rustc(&release.join("victim_libc.rs"), "bin", 1, &libc_victim, &[]);
    for (library, soname, file) in [
        ("zlib", "libz.so.1", "libz.so"),
        ("sqlite", "libsqlite3.so.0", "libsqlite3.so"),
    ] {
        let stubs = out.join(format!("stub-{library}"));
        fs::create_dir_all(&stubs).unwrap();
        rustc(
            &release.join("stub.rs"),
            "cdylib",
            1,
            &stubs.join(file),
            &[
                "--cfg".into(),
                format!("stub_{library}"),
                "-C".into(),
                format!("link-arg=-Wl,-soname,{soname}"),
            ],
        );
        rustc(
            &release.join(format!("victim_{library}.rs")),
            "bin",
            1,
            &out.join(format!("victim-{library}")),
            &[
                "-L".into(),
                format!("native={}", stubs.display()),
                "-C".into(),
                "link-arg=-Wl,-rpath,$ORIGIN".into(),
            ],
        );
    }
    embed(
        &mut code,
        "LIBC_VICTIM",
        "The C-library victim (`victim-libc`).",
        &libc_victim,
    );
    embed(
        &mut code,
        "ZLIB_VICTIM",
        "The zlib victim (`victim-zlib`, DT_NEEDED libz.so.1, rpath $ORIGIN).",
        &out.join("victim-zlib"),
    );
    embed(
        &mut code,
        "SQLITE_VICTIM",
        "The SQLite victim (`victim-sqlite`, DT_NEEDED libsqlite3.so.0, rpath $ORIGIN).",
        &out.join("victim-sqlite"),
    );

    // The guard that commands run under: small, so that it starts as fast as a victim.
    let guard = out.join("clobber-guard");
    rustc(&guard_src, "bin", 1, &guard, &[]);
    embed(
        &mut code,
        "GUARD",
        "The guard of commands (`harness/guard/guard.rs`).",
        &guard,
    );

    let mut entries: Vec<PathBuf> = fs::read_dir(&scenarios)
        .expect("scenarios/ directory")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    entries.sort();
    code.push_str("/// The scenario catalogue: (file name, contents) of scenarios/*.toml.\npub const CATALOGUE: &[(&str, &str)] = &[\n");
    for path in entries {
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        writeln!(code, "    ({name:?}, include_str!({path:?})),").unwrap();
    }
    code.push_str("];\n");
    fs::write(out.join("embedded.rs"), code).unwrap();
}
