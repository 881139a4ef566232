//! `Call<Args>`: a function called with its arguments as a tuple.

/// A function of 0 to 12 arguments, called with them as a tuple `(a, b, ...)`
/// (one argument: `(a,)`). Implemented for every `Fn(A, B, ...) -> R`: fn
/// items, closures and function pointers.
pub trait Call<Args> {
    /// What the function returns.
    type Output;
    /// Calls the function.
    fn call(&self, args: Args) -> Self::Output;
}

macro_rules! impl_call {
    ($($a:ident),*) => {
        impl<Func, Out, $($a,)*> Call<($($a,)*)> for Func
        where
            Func: Fn($($a),*) -> Out,
        {
            type Output = Out;
            #[allow(non_snake_case)]
            #[inline]
            fn call(&self, args: ($($a,)*)) -> Out {
                let ($($a,)*) = args;
                self($($a),*)
            }
        }
    };
}

impl_call!();
impl_call!(A);
impl_call!(A, B);
impl_call!(A, B, C);
impl_call!(A, B, C, D);
impl_call!(A, B, C, D, E);
impl_call!(A, B, C, D, E, F);
impl_call!(A, B, C, D, E, F, G);
impl_call!(A, B, C, D, E, F, G, H);
impl_call!(A, B, C, D, E, F, G, H, I);
impl_call!(A, B, C, D, E, F, G, H, I, J);
impl_call!(A, B, C, D, E, F, G, H, I, J, K);
impl_call!(A, B, C, D, E, F, G, H, I, J, K, L);

/// The name results of `F` are stored under: its type name (module path and
/// fn name, e.g. `my_crate::stats::mean`). Closures all print as
/// `path::{{closure}}`, so theirs gets the call site and a hash of the type
/// id appended: closures never share results (but their results are only
/// found again by the same build; use `run_named` for a durable name).
/// Closures that capture state are told apart by neither: `run` refuses them
/// (see `StashRun`).
pub fn function_name<F>(location: &std::panic::Location<'_>) -> String
where
    F: 'static,
{
    let name = std::any::type_name::<F>();
    if !name.contains("{{closure}}") {
        return name.to_string();
    }
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::any::TypeId::of::<F>().hash(&mut h);
    let file = location.file().replace(['/', '\\'], "_");
    format!("{name}@{file}:{}:{}#{:016x}", location.line(), location.column(), h.finish())
}

/// [`function_name`] of a function whose type tells it apart from every
/// other: a fn item or a closure that captures nothing (both zero-sized).
/// Anything else (a closure that captures variables, a function pointer, a
/// boxed `dyn Fn`) shares its type with functions that compute other things,
/// so two of them would share results: refused with a `Config` error naming
/// `what` and pointing to the `_named` form.
pub(crate) fn checked_function_name<F: 'static>(
    location: &std::panic::Location<'_>,
    what: &str,
) -> crate::Result<String> {
    if std::mem::size_of::<F>() == 0 {
        return Ok(function_name::<F>(location));
    }
    let ty = std::any::type_name::<F>();
    let kind = if ty.contains("{{closure}}") { "a closure that captures variables" } else { "a value" };
    Err(stash_core::Error::new(
        stash_core::ErrorKind::Config,
        format!(
            "`{what}` keys results by the function's type, and `{ty}` is {kind} \
             ({} bytes of state) that its type cannot tell apart from another: two \
             such functions from one place would share results. Use `run_named` \
             (or `map_named`, `function_stash_named`) with a name that says what it \
             captured, or pass a fn item or a closure that captures nothing",
            std::mem::size_of::<F>()
        ),
    )
    .with_context("call site", location)
    .into())
}

/// Makes a function name usable as a folder name (no `/`, no `..`).
pub(crate) fn folder_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_alphanumeric() || "_:.<>,{}@#-".contains(c) { c } else { '_' })
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '.') { format!("_{s}") } else { s.replace("..", "._") }
}
