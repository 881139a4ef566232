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

/// Makes a function name usable as a folder name (no `/`, no `..`).
pub(crate) fn folder_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_alphanumeric() || "_:.<>,{}@#-".contains(c) { c } else { '_' })
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '.') { format!("_{s}") } else { s.replace("..", "._") }
}
