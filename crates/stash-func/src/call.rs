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

/// The name results of `F` are stored under by `run`, `map` and
/// `function_stash`: its type name, `std::any::type_name::<F>()`, which for a
/// fn item is its module path and name (`my_crate::stats::mean`). Rust does
/// not promise that text across compiler versions (it has been the path for
/// fn items in every release so far); for a name that depends on the source
/// alone, use `run_named` or `#[stashed_result]` (whose name is
/// `module_path!()::f`, a literal).
///
/// `None` for a closure: every closure prints as `<enclosing fn>::{{closure}}`,
/// so several closures in one function would share a name, and nothing else
/// about a closure is stable (its `TypeId` changes with the build). Closures
/// go through `run_named` (see `StashRun`).
pub fn function_name<F: 'static>() -> Option<String> {
    let name = std::any::type_name::<F>();
    if name.contains("{{closure}}") { None } else { Some(name.to_string()) }
}

/// [`function_name`] of a function whose type tells it apart from every
/// other: a fn item (zero-sized, not a closure). Anything else is refused with
/// a `Config` error naming `what` and pointing to the `_named` form: a closure
/// (no stable name), and any `F` with state (a function pointer, a boxed
/// `dyn Fn`: they share their type with functions that compute other things).
pub(crate) fn checked_function_name<F: 'static>(
    location: &std::panic::Location<'_>,
    what: &str,
) -> crate::Result<String> {
    let ty = std::any::type_name::<F>();
    let size = std::mem::size_of::<F>();
    let why = match function_name::<F>() {
        Some(name) if size == 0 => return Ok(name),
        Some(_) => format!(
            "`{ty}` is a value ({size} bytes of state) that its type cannot tell apart from \
             another: two such functions would share results"
        ),
        None if size == 0 => format!(
            "`{ty}` is a closure, and a closure has no stable name: its type name is shared by \
             every closure of the function it is in, and its type id changes with the build"
        ),
        None => format!(
            "`{ty}` is a closure that captures variables ({size} bytes of state), and a \
             closure has no stable name: two closures from one place would share results"
        ),
    };
    Err(stash_core::Error::new(
        stash_core::ErrorKind::Config,
        format!(
            "`{what}` names results by the function, and {why}. Use `run_named` (or \
             `map_named`, `function_stash_named`) with a name that says what it computes, or \
             pass a fn item"
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
