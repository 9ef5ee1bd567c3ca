//! What the build script embeds: both versions of the victim library and executable, and the
//! scenario catalogue.

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
