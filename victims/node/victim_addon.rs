//! The Node.js victim addon, compiled by the harness's build script in two versions (`--cfg
//! victim_v1`, `--cfg victim_v2`) like the victim library, whose table and work it carries: a
//! native Node-API module (`victim.node`) that a running `node` loads with `require()` (dlopen)
//! and calls in a loop. It exports `version()` and `work()`, which mixes a fixed seed with every
//! word of the table, touching every page of it, and returns the result folded to 32 bits. The
//! Node-API functions it calls are resolved from the `node` executable when it is loaded.
#![no_std]

use core::ffi::{c_char, c_void, CStr};

#[path = "../common/table.rs"]
mod table;

use table::{TABLE, VERSION};

/// Mixed into the table's values (the victim library's multiplier).
const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;
/// The seed `work()` mixes with the table.
const SEED: u64 = 0x5EED;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

type Env = *mut c_void;
type Value = *mut c_void;
type CallbackInfo = *mut c_void;
type Callback = extern "C" fn(Env, CallbackInfo) -> Value;

extern "C" {
    fn napi_create_function(
        env: Env,
        name: *const c_char,
        length: usize,
        callback: Callback,
        data: *mut c_void,
        result: *mut Value,
    ) -> i32;
    fn napi_set_named_property(env: Env, object: Value, name: *const c_char, value: Value)
        -> i32;
    fn napi_create_uint32(env: Env, value: u32, result: *mut Value) -> i32;
}

/// A JavaScript number holding `value`.
fn number(env: Env, value: u32) -> Value {
    let mut result = core::ptr::null_mut();
    // SAFETY: a valid env from Node and a place for the result.
    unsafe { napi_create_uint32(env, value, &mut result) };
    result
}

extern "C" fn version(env: Env, _: CallbackInfo) -> Value {
    number(env, VERSION as u32)
}

/// One step of the version's mixing (version 1 rotates and xors, version 2 multiplies and adds).
fn mix(acc: u64, word: &u64) -> u64 {
    #[cfg(victim_v1)]
    let mixed = acc.rotate_left(5) ^ word;
    #[cfg(victim_v2)]
    let mixed = acc.wrapping_mul(31).wrapping_add(*word);
    mixed
}

extern "C" fn work(env: Env, _: CallbackInfo) -> Value {
    let acc = TABLE.iter().fold(SEED, mix);
    number(env, (acc ^ (acc >> 32)) as u32)
}

/// Node-API's entry point: puts `version` and `work` on the module's exports.
#[no_mangle]
pub extern "C" fn napi_register_module_v1(env: Env, exports: Value) -> Value {
    let functions: [(&CStr, Callback); 2] = [(c"version", version), (c"work", work)];
    for (name, callback) in functions {
        let mut function = core::ptr::null_mut();
        // SAFETY: a valid env and exports object from Node, NUL-terminated names that live for
        // the whole program, and callbacks of the signature Node-API calls.
        unsafe {
            napi_create_function(
                env,
                name.as_ptr(),
                usize::MAX, // NAPI_AUTO_LENGTH: the name is NUL-terminated
                callback,
                core::ptr::null_mut(),
                &mut function,
            );
            napi_set_named_property(env, exports, name.as_ptr(), function);
        }
    }
    exports
}
