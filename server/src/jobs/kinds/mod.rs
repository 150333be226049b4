//! The kinds Candor ships, one file each. To add one: write its file here (a type that
//! implements [`JobKind`](super::kind::JobKind)) and add its `module::Type` to the list
//! below; the registry, the form, the checks and recovery take it from there.

use super::registry::Kinds;

/// Declares each kind's module and lists the kinds, in the order the form shows them.
macro_rules! builtin_kinds {
    ($($module:ident :: $kind:ident),+ $(,)?) => {
        $(pub(super) mod $module;)+

        /// Every kind Candor ships.
        pub fn builtin() -> Kinds {
            Kinds::empty()$(.with::<$module::$kind>())+
        }
    };
}

builtin_kinds! {
    demo::Demo,
    export::Export,
    import::Import,
    compress::Compress,
}
