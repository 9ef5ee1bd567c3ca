//! What the build script embeds: both versions of the victim library and executable, the
//! stand-alone victim programs (linked, lazily linked, interpreter) and the scenario catalogue.

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
