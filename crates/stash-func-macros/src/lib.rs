//! Attribute macros of hashstash: `#[stashed_result]`, `#[stash_mapped]` and
//! `#[stash_fingerprint]`, and the call behind `fn_key!`, the key of a marked
//! function. Documented in `stash-func` (and re-exported by the `hashstash` facade).

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2, TokenTree};
use quote::{format_ident, quote};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, FnArg, Ident, ItemFn, Lit, Path, Token, Type};

/// Which macro is expanding.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Result,
    Mapped,
    Fingerprint,
}

impl Kind {
    fn attr(self) -> &'static str {
        match self {
            Kind::Result => "#[stashed_result]",
            Kind::Mapped => "#[stash_mapped]",
            Kind::Fingerprint => "#[stash_fingerprint]",
        }
    }
}

/// The options of an attribute, parsed.
struct Options {
    krate: Path,
    stash: Option<Expr>,
    builder: Vec<(Ident, Expr)>,
    version: Option<String>,
    name: Option<String>,
    /// Arguments (or `self`) left out of the key.
    ignore: Vec<Ident>,
    /// The whole key, computed from the arguments.
    key: Option<Expr>,
    /// The type of the function stash's keys when `key` does not tell it.
    key_type: Option<Type>,
    /// A `Duration` expression.
    ttl: Option<TokenStream2>,
    max_entries: Option<Expr>,
    append: Option<Expr>,
    /// `false`: keys are the digest of the arguments.
    store_args: bool,
    /// Delete other code versions' folders when the stash is first opened.
    prune_old_versions: bool,
    /// `false`: the function alone, no `try_f`, `f_stash` or fingerprint items.
    accessors: bool,
    /// Functions whose fingerprints count in this one's.
    deps: Vec<Path>,
    /// Where `stash` or a builder option was given (they exclude each other).
    stash_span: Option<Span>,
}

/// Options passed on to `HashStash::builder()`.
const BUILDER_KEYS: &[&str] = &[
    "root_dir",
    "dbname",
    "engine",
    "url",
    "serializer",
    "compress",
    "b64",
    "append_mode",
    "clear",
    "max_bytes",
    "eviction",
];

/// Options about the function itself (every kind but `#[stash_fingerprint]`).
const FUNCTION_KEYS: &[&str] = &[
    "stash",
    "version",
    "name",
    "crate",
    "ttl",
    "ttl_secs",
    "max_entries",
    "append",
    "deps",
    "prune_old_versions",
];

/// Options of `#[stashed_result]` only: the key, and whether to add items.
const KEY_KEYS: &[&str] = &["ignore", "key", "key_type", "store_args", "accessors"];

fn allowed(kind: Kind) -> Vec<&'static str> {
    match kind {
        Kind::Result => [FUNCTION_KEYS, KEY_KEYS, BUILDER_KEYS].concat(),
        Kind::Mapped => [FUNCTION_KEYS, &["ignore"], BUILDER_KEYS].concat(),
        Kind::Fingerprint => vec!["deps", "crate"],
    }
}

fn lit_str(key: &str, e: &Expr) -> syn::Result<String> {
    match e {
        Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => Ok(s.value()),
        other => Err(syn::Error::new_spanned(other, format!("`{key}` takes a string literal"))),
    }
}

fn lit_bool(key: &str, e: &Expr) -> syn::Result<bool> {
    match e {
        Expr::Lit(ExprLit { lit: Lit::Bool(b), .. }) => Ok(b.value),
        other => Err(syn::Error::new_spanned(other, format!("`{key}` takes `true` or `false`"))),
    }
}

fn parse_options(attr: TokenStream2, kind: Kind) -> syn::Result<Options> {
    let parser = |input: ParseStream| -> syn::Result<Options> {
        let mut o = Options {
            krate: syn::parse_quote!(::hashstash),
            stash: None,
            builder: vec![],
            version: None,
            name: None,
            ignore: vec![],
            key: None,
            key_type: None,
            ttl: None,
            max_entries: None,
            append: None,
            store_args: true,
            prune_old_versions: false,
            accessors: true,
            deps: vec![],
            stash_span: None,
        };
        let allowed = allowed(kind);
        let mut seen: Vec<String> = vec![];
        let mut builder_span = None;
        while !input.is_empty() {
            let name = input.call(Ident::parse_any)?;
            let key = name.to_string();
            if !allowed.contains(&key.as_str()) {
                let unknown = [FUNCTION_KEYS, KEY_KEYS, BUILDER_KEYS].concat();
                let msg = if unknown.contains(&key.as_str()) {
                    format!("{} does not take `{key}`; it takes: {}", kind.attr(), allowed.join(", "))
                } else {
                    format!("unknown option `{key}`; expected one of: {}", allowed.join(", "))
                };
                return Err(syn::Error::new_spanned(&name, msg));
            }
            if !input.peek(Token![=]) {
                return Err(syn::Error::new_spanned(&name, format!("expected `{key} = ...`")));
            }
            input.parse::<Token![=]>()?;
            let same = |a: &str| seen.iter().any(|s| s == a);
            let twin = match key.as_str() {
                "ttl" | "ttl_secs" if same("ttl") || same("ttl_secs") => {
                    Some("a ttl is given twice: give `ttl` or `ttl_secs`, not both")
                }
                _ if same(&key) => Some(""),
                _ => None,
            };
            if let Some(what) = twin {
                let msg = if what.is_empty() { format!("`{key}` is given twice") } else { what.to_string() };
                return Err(syn::Error::new_spanned(&name, msg));
            }
            seen.push(key.clone());
            match key.as_str() {
                "key_type" => o.key_type = Some(input.parse()?),
                "ignore" => {
                    let content;
                    syn::bracketed!(content in input);
                    o.ignore =
                        Punctuated::<Ident, Token![,]>::parse_terminated_with(&content, Ident::parse_any)?
                            .into_iter()
                            .collect();
                }
                "deps" => {
                    let content;
                    syn::bracketed!(content in input);
                    o.deps = Punctuated::<Path, Token![,]>::parse_terminated(&content)?.into_iter().collect();
                }
                _ => {
                    let value: Expr = input.parse()?;
                    match key.as_str() {
                        "crate" => o.krate = syn::parse_str(&lit_str(&key, &value)?)?,
                        "stash" => {
                            o.stash_span = Some(name.span());
                            o.stash = Some(value)
                        }
                        "version" => o.version = Some(lit_str(&key, &value)?),
                        "name" => o.name = Some(lit_str(&key, &value)?),
                        "key" => o.key = Some(value),
                        "ttl" => o.ttl = Some(ttl_tokens(&value)?),
                        "ttl_secs" => o.ttl = Some(quote!(::std::time::Duration::from_secs(#value))),
                        "max_entries" => o.max_entries = Some(value),
                        "append" => o.append = Some(value),
                        "store_args" => o.store_args = lit_bool(&key, &value)?,
                        "prune_old_versions" => o.prune_old_versions = lit_bool(&key, &value)?,
                        "accessors" => o.accessors = lit_bool(&key, &value)?,
                        _ => {
                            builder_span.get_or_insert(name.span());
                            o.builder.push((name, value));
                        }
                    }
                }
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        if let (Some(span), Some(_)) = (builder_span, o.stash_span) {
            return Err(syn::Error::new(
                span,
                "give either `stash = ...` or builder options (root_dir, engine, ...), not both",
            ));
        }
        Ok(o)
    };
    parser.parse2(attr)
}

/// `ttl = "1h30m"` (checked here) or `ttl = <Duration expression>`.
fn ttl_tokens(value: &Expr) -> syn::Result<TokenStream2> {
    let Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) = value else { return Ok(quote!(#value)) };
    match parse_duration(&s.value()) {
        Some((secs, nanos)) if secs > 0 || nanos > 0 => Ok(quote!(::std::time::Duration::new(#secs, #nanos))),
        Some(_) => Err(syn::Error::new_spanned(s, "`ttl` must be longer than zero")),
        None => Err(syn::Error::new_spanned(
            s,
            "`ttl` takes a duration such as \"1h\", \"30m\", \"90s\", \"500ms\" or \"1h30m\" \
             (units: d, h, m, s, ms), `ttl_secs = <seconds>`, or a `Duration` expression",
        )),
    }
}

/// `"1h30m"` as (seconds, nanoseconds): numbers each followed by a unit
/// (`d`, `h`, `m`, `s`, `ms`), spaces allowed between parts.
fn parse_duration(text: &str) -> Option<(u64, u32)> {
    let mut millis: u64 = 0;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
        let per: u64 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return None,
        };
        millis = millis.checked_add(n.checked_mul(per)?)?;
        rest = rest[unit_len..].trim_start();
    }
    Some((millis / 1000, ((millis % 1000) * 1_000_000) as u32))
}

/// Stashes every call's result: the first call with some arguments runs the
/// function and stores the result, later calls return it.
///
/// ```text
/// #[hashstash::stashed_result(engine = "lmdb", root_dir = "cache", ttl = "1h", ignore = [log])]
/// fn embed(text: &str, log: &Logger) -> Vec<f32> { ... }
/// ```
///
/// Where the results live: builder options `root_dir, dbname, engine, url,
/// serializer, compress, b64, append_mode, clear, max_bytes, eviction` (calls
/// on `HashStash::builder()`; `url` names the server of `engine = "redis"` or
/// `"mongo"`), or `stash = <expr>` returning `Result<S, E>` where `&S` coerces
/// to `&Stash` and `stash_func::Error: From<E>` (not both). `crate = "path"`
/// (default `::hashstash`).
///
/// The function's own settings (over those of the stash it lives in, with
/// `stash =` too):
/// - `ttl = "1h"` (units `d`, `h`, `m`, `s`, `ms`, combined as `"1h30m"`;
///   checked at compile time), `ttl_secs = 3600`, or `ttl = <Duration expr>`:
///   a result expires that long after it was computed, then is computed again;
/// - `max_entries = N`: at most `N` results are kept (the oldest go first);
/// - `append = true`: a recomputed result is stored as a new version of its
///   key (`get_all`), not over the old one;
/// - `prune_old_versions = true`: when a process first opens the function's
///   stash, the folders of its other code versions are deleted (off by
///   default: another program still built from the old code would lose its
///   results). `FunctionStash::old_versions_bytes()` tells what they take.
///
/// The key (by default the tuple of all arguments, `self` first for methods):
/// - `ignore = [conn, log]`: arguments (or `self`) left out of the key, such
///   as a database connection or a logger; their types need not be `Serialize`;
/// - `key = <expr>`: the whole key, any `Serialize` value computed from the
///   arguments (in scope by reference, under their names); the stash's key
///   type is told from the expression when it is an argument or a tuple of
///   arguments, else give it with `key_type = <type>`;
/// - `store_args = false`: the key stored is the digest of the key (32 hex
///   characters, `FunctionStash::args_digest`), not the arguments, for huge
///   arguments (Python hashstash's `store_args=False`): `items()` then yields
///   digests, and the stash's key type is `String`.
///
/// Borrowed arguments (`&str`, `&[T]`, `&T`, `&Path`, `Option<&T>`,
/// `Cow<str>`, `Vec<&str>`, ...) are keyed as they are, without a clone; the
/// function stash's key type is their owned form (`String`, `Vec<T>`, `T`,
/// `PathBuf`, `Option<T>`, ...), which serializes alike. An argument whose type
/// is generic, `impl Trait` or `dyn Trait` cannot be part of the key (one
/// stash has one key type): give `key = <expr>` or `ignore` it. `&mut`
/// arguments are refused unless ignored.
///
/// Code versions: `version = "..."`, else a fingerprint of the code (any
/// change of the signature or body, not of comments or formatting, starts a
/// new result folder); `deps = [helper, other::g]` adds the fingerprints of
/// these functions, each itself `#[stashed_result]` or
/// `#[stash_fingerprint]`, so changing a helper starts a new folder too (no
/// cycles). Old folders: `FunctionStash::old_versions()` and
/// `prune_old_versions()`.
///
/// Names: `name = "..."`, else `module_path!()::f`, a literal that depends on
/// the source only. Methods: mark their `impl` block `#[stashed_result]` too
/// (no options) and their names are the literals `module_path!()::Type::f`
/// (`module_path!()::<Type as Trait>::f` in a trait impl; the module is the
/// impl's, the type as written without generic arguments; not for generic
/// impls). Without it a method's name is `type_name::<Self>()::f`, which may
/// change with the compiler. Results live in `stashed_result/<name>/<version>`
/// under the stash.
///
/// ```text
/// #[hashstash::stashed_result]
/// impl Model {
///     #[hashstash::stashed_result(engine = "lmdb")] // named `<module>::Model::predict`
///     fn predict(&self, x: u32) -> f64 { ... }
///     #[hashstash::stash_mapped(engine = "lmdb")]   // `<module>::Model::score`
///     fn score(&self, text: String) -> f64 { ... }
/// }
/// ```
///
/// The stash is opened on the first call and kept once it opened; a failed
/// open is returned for a short pause (100 ms after the first failure,
/// doubling up to 5 s), then tried again, so a server that was down at
/// start-up does not break the function until a restart. The results follow
/// the life cycle of the stash they live in (its `ttl`, `max_entries`,
/// `max_bytes`, statistics, and its `clear()`, which empties them). Calls of
/// one key wait for each other (per key, at most 60 s, then compute anyway):
/// see `stash_func`'s crate docs on single flight.
///
/// Generated items, and where stash errors go (opening the stash, reading or
/// writing a result); there is no fallback that computes without caching:
/// - `fn f(args) -> R`, the function itself. When `R` is spelled
///   `Result<T, E>` (any path ending in `Result` with two arguments), only
///   `Ok` values are stored (errors are retried) and a stash error is
///   returned as `Err(E::from(hashstash::Error))`: `E` must implement
///   `From<hashstash::Error>`. Otherwise `f` panics on a stash error, with a
///   message naming the function, its stash and the cause. (A `Result`
///   under another spelling, such as an alias, is stored whole, but its `Err`
///   values are not stored either: the rule is `run`'s);
/// - `fn try_f(args) -> Result<R, stash_func::Error>` (not for `Result`
///   functions): the non-panicking form, returning stash errors;
/// - `fn f_stash() -> Result<FunctionStash<K, T or R>, stash_func::Error>`:
///   the stored results (`get_func`, `items`, `len`, `clear`, ...), `K` the
///   key type above;
/// - a hidden `fn __stash_fingerprint_f() -> &'static str` for `deps`.
///
/// `accessors = false` generates the function alone (no `try_f`, `f_stash`
/// or fingerprint function): the way to stash a method of a trait impl, where
/// no other item may be added. Its results live where they would otherwise
/// (`stashed_result/<name>/<version>`, cleared with its stash), without an
/// accessor; a method's default name is `type_name::<Self>()::f`, or a
/// literal when its impl block is marked `#[stashed_result]`.
///
/// Generic functions work when their key does not use the generic arguments
/// (`key =`, `ignore`) and their result type is not generic. Methods of
/// inherent impls (of trait impls with `accessors = false`): `&self` and `self` receivers (not `&mut self`, nor typed receivers
/// such as `self: Box<Self>`). The receiver is part of the key unless
/// `ignore = [self]`, so `Self: Serialize` is required and two values with
/// different state never share results; `Foo::f_stash()`, `foo.try_f(..)`.
/// Associated functions without receiver work like free functions
/// (`Foo::f_stash()`, `Foo::try_f(..)`). For functions without receiver the
/// body is compiled into both `f` and `try_f`, so a `static` declared inside
/// the body is not shared by them.
///
/// `async fn`s (the facade's feature `async`; without it, a compile error
/// says so) take the same options and get the same items, `f` and `try_f`
/// being `async` (`f_stash` stays sync). Calls must be awaited in a tokio
/// runtime; tasks asking for the same missing key await one computation (the
/// async single flight of `AsyncStash::run_async`: by the engine's lock across
/// processes too; a cancelled computing task passes its turn to a waiting
/// one), reads and writes run off the runtime's workers, and the first call
/// opens the stash on the calling task. The results live in
/// `stashed_result/<name>/<version>` as a sync function's: a sync and an
/// async function given the same `name` and `version` share them.
///
/// ```text
/// #[hashstash::stashed_result(engine = "redis", url = "redis://cache:6379", ttl = "10m")]
/// async fn profile(user_id: u64) -> Result<Profile, ApiError> { ... }
/// ```
#[proc_macro_attribute]
pub fn stashed_result(attr: TokenStream, item: TokenStream) -> TokenStream {
    let expanded = match syn::parse_macro_input!(item as syn::Item) {
        syn::Item::Fn(func) => expand(attr.into(), func, Kind::Result, None),
        syn::Item::Impl(block) => expand_impl(attr.into(), block),
        other => Err(syn::Error::new_spanned(
            other,
            "#[stashed_result] goes on a function, or on an `impl` block to name its stashed methods",
        )),
    };
    match expanded {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Makes `f_map(inputs, rest...)`, mapping `f` over its first argument on a
/// thread pool with stashed results (the Python library's `@stash_mapped`).
///
/// ```text
/// #[hashstash::stash_mapped(engine = "pairtree")]
/// fn describe(animal: String, goodnesses: Vec<String>) -> String { ... }
///
/// let runs = describe_map(animals, vec!["good".into()])?.threads(4).results()?;
/// ```
///
/// `f` itself is unchanged (its calls are not stashed). Generated:
/// - `fn f_map(inputs: impl IntoIterator<Item = A>, b: B, ...) ->
///   Result<MapBuilder<A, R>, stash_func::Error>` (the error: the stash could
///   not be opened). The other arguments are the same for every call and part
///   of each result's key: `(a,)` for one argument, `(a, b)` for two,
///   `(a, (b, c, ...))` for more. Arguments are owned (they go to worker
///   threads): no references, no generics;
/// - `fn f_map_stash() -> Result<FunctionStash<key, R>, stash_func::Error>`.
///
/// Methods (`&self` or `self` receivers, inherent impls): `f_map(&self,
/// inputs, rest...)` clones `self` for the workers; `self` is the first common
/// argument, part of every key (`(a, Self)`, `(a, (Self, b, ...))`, so `Self:
/// Serialize + Clone + Debug + Send + Sync + 'static`) unless `ignore = [self]`
/// (then `Self: Clone + Send + Sync + 'static` only); `Foo::f_map_stash()`. Associated
/// functions without receiver work like free functions. A function without
/// receiver is run by `f_map` through its body (`f` itself is not called).
///
/// Options as for `#[stashed_result]` but those of the key (`key`,
/// `key_type`, `store_args`; `ignore` takes `self` only); names as for
/// `#[stashed_result]` (mark the `impl` block `#[stashed_result]` for literal
/// method names); results live in `stashed_result/<name>/<code fingerprint or
/// version>`.
#[proc_macro_attribute]
pub fn stash_mapped(attr: TokenStream, item: TokenStream) -> TokenStream {
    let func = syn::parse_macro_input!(item as ItemFn);
    match expand(attr.into(), func, Kind::Mapped, None) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Marks a helper whose code counts in the fingerprint of the stashed
/// functions naming it in `deps = [...]`: changing its signature or body
/// starts new result folders for them. The function is unchanged; a hidden
/// `fn __stash_fingerprint_f() -> &'static str` (same visibility) is added
/// beside it. Options: `deps = [...]` (its own helpers, counted in its
/// fingerprint), `crate = "path"` (default `::hashstash`).
///
/// `deps` finds the hidden function by the path given to it (`helper`,
/// `super::text::helper`, `Self::helper`): a `use` that imports `helper`
/// alone does not bring it, so name a helper from another module by its path
/// (or import `__stash_fingerprint_helper` too).
///
/// ```text
/// #[hashstash::func::stash_fingerprint]
/// fn normalize(s: &str) -> String { s.trim().to_lowercase() }
///
/// #[hashstash::stashed_result(deps = [normalize])]
/// fn count_words(text: &str) -> usize { normalize(text).split_whitespace().count() }
/// ```
#[proc_macro_attribute]
pub fn stash_fingerprint(attr: TokenStream, item: TokenStream) -> TokenStream {
    let func = syn::parse_macro_input!(item as ItemFn);
    match expand(attr.into(), func, Kind::Fingerprint, None) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// The call behind `stash_func::fn_key!(path::to::f)`: `path::to::__stash_fn_key_f()`,
/// the `(path, code version)` of a function marked `#[stash_fingerprint]` or
/// `#[stashed_result]`, from which `fn_key!` builds its `FnKey`.
#[doc(hidden)]
#[proc_macro]
pub fn __fn_key_parts(input: TokenStream) -> TokenStream {
    let mut path = syn::parse_macro_input!(input as Path);
    if let Some(last) = path.segments.last_mut() {
        last.ident = format_ident!("__stash_fn_key_{}", last.ident, span = last.ident.span());
        last.arguments = syn::PathArguments::None;
    }
    quote!(#path()).into()
}

/// `#[stashed_result]` on an `impl` block: expands its methods marked
/// `#[stashed_result]` or `#[stash_mapped]` itself, knowing the impl's type,
/// so their default names are the literals `module_path!()::Type::f` (or
/// `module_path!()::<Type as Trait>::f` in a trait impl).
fn expand_impl(attr: TokenStream2, block: syn::ItemImpl) -> syn::Result<TokenStream2> {
    if let Some(first) = attr.clone().into_iter().next() {
        return Err(syn::Error::new_spanned(
            first,
            "#[stashed_result] on an `impl` block takes no options: it only names the stashed \
             methods `<module>::<Type>::<method>`; give the options on each method",
        ));
    }
    if let Some(g) = block.generics.params.iter().find(|g| !matches!(g, syn::GenericParam::Lifetime(_))) {
        return Err(syn::Error::new_spanned(
            g,
            "#[stashed_result] on a generic `impl` block: its methods have one name per type \
             (`type_name::<Self>()`), not a literal; remove the attribute from the `impl`, or give \
             each method `name = \"...\"`",
        ));
    }
    let ty = match &*block.self_ty {
        Type::Path(tp) if tp.qself.is_none() => path_name(&tp.path),
        other => {
            return Err(syn::Error::new_spanned(
                other,
                "#[stashed_result] on an `impl` block needs a type named by a path (such as \
                 `Foo` or `module::Foo<'a>`); give each method `name = \"...\"` instead",
            ));
        }
    };
    let owner = match &block.trait_ {
        Some((_, t, _)) => {
            let name = t.segments.last().map(|s| s.ident.to_string()).unwrap_or_default();
            format!("<{ty} as {name}>")
        }
        None => ty,
    };
    let mut items = vec![];
    let mut marked = 0;
    for item in &block.items {
        let syn::ImplItem::Fn(method) = item else {
            items.push(quote!(#item));
            continue;
        };
        let kind_of = |a: &syn::Attribute| {
            let last = a.path().segments.last().map(|s| s.ident.to_string());
            match last.as_deref() {
                Some("stashed_result") => Some(Kind::Result),
                Some("stash_mapped") => Some(Kind::Mapped),
                _ => None,
            }
        };
        let Some(at) = method.attrs.iter().position(|a| kind_of(a).is_some()) else {
            items.push(quote!(#method));
            continue;
        };
        marked += 1;
        let mut attrs = method.attrs.clone();
        let mark = attrs.remove(at);
        let kind = kind_of(&mark).unwrap_or(Kind::Result);
        let args = match &mark.meta {
            syn::Meta::List(l) => l.tokens.clone(),
            _ => TokenStream2::new(),
        };
        let func = ItemFn {
            attrs,
            vis: method.vis.clone(),
            sig: method.sig.clone(),
            block: Box::new(method.block.clone()),
        };
        items.push(expand(args, func, kind, Some(&owner)).unwrap_or_else(|e| e.to_compile_error()));
    }
    if marked == 0 {
        return Err(syn::Error::new_spanned(
            &block.self_ty,
            "#[stashed_result] on an `impl` block names its methods marked `#[stashed_result]` or \
             `#[stash_mapped]`, and this one has none",
        ));
    }
    let (attrs, defaultness, unsafety, generics, self_ty) =
        (&block.attrs, &block.defaultness, &block.unsafety, &block.generics, &block.self_ty);
    let where_clause = &generics.where_clause;
    let trait_ = block.trait_.as_ref().map(|(bang, path, for_)| quote!(#bang #path #for_));
    Ok(quote! {
        #(#attrs)*
        #defaultness #unsafety impl #generics #trait_ #self_ty #where_clause {
            #(#items)*
        }
    })
}

/// A path as a name: its segments without generic arguments (`a::Foo<'x>` -> `a::Foo`).
fn path_name(path: &Path) -> String {
    let segs: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    let lead = if path.leading_colon.is_some() { "::" } else { "" };
    format!("{lead}{}", segs.join("::"))
}

/// `(T, E)` of a return type spelled `Result<T, E>` (any path ending in `Result`).
fn result_parts(ty: &syn::Type) -> Option<(syn::Type, syn::Type)> {
    let syn::Type::Path(tp) = ty else { return None };
    let seg = tp.path.segments.last()?;
    if seg.ident != "Result" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &seg.arguments else { return None };
    let tys: Vec<_> = args
        .args
        .iter()
        .filter_map(|a| if let syn::GenericArgument::Type(t) = a { Some(t.clone()) } else { None })
        .collect();
    match <[syn::Type; 2]>::try_from(tys) {
        Ok([t, e]) => Some((t, e)),
        Err(_) => None,
    }
}

/// Whether `tokens` name one of `generics`, or are `impl Trait` / `dyn Trait`.
fn mentions_generic(tokens: TokenStream2, generics: &[String]) -> bool {
    tokens.into_iter().any(|t| match t {
        TokenTree::Ident(i) => i == "impl" || i == "dyn" || generics.iter().any(|g| i == g),
        TokenTree::Group(g) => mentions_generic(g.stream(), generics),
        _ => false,
    })
}

/// The owned form of an argument type, which serializes as the argument does:
/// `&str` -> `String`, `&[T]` -> `Vec<T>`, `&Path` -> `PathBuf`, `&T` -> `T`,
/// `Cow<'_, B>` -> the owned `B`, inside generic arguments, tuples and arrays
/// too; other lifetimes become `'static`.
fn owned(ty: &Type) -> syn::Result<Type> {
    Ok(match ty {
        Type::Reference(r) => {
            if r.mutability.is_some() {
                return Err(syn::Error::new_spanned(
                    r,
                    "a `&mut` argument cannot be part of the key (a stored result would skip the \
                     mutation): leave it out with `ignore = [...]`",
                ));
            }
            owned_target(&r.elem)?
        }
        Type::Path(tp) => {
            if tp.qself.is_none()
                && let Some(last) = tp.path.segments.last()
                && last.ident == "Cow"
                && let syn::PathArguments::AngleBracketed(a) = &last.arguments
                && let Some(inner) = a
                    .args
                    .iter()
                    .find_map(|g| if let syn::GenericArgument::Type(t) = g { Some(t) } else { None })
            {
                return owned_target(inner);
            }
            let mut tp = tp.clone();
            for seg in tp.path.segments.iter_mut() {
                if let syn::PathArguments::AngleBracketed(a) = &mut seg.arguments {
                    for g in a.args.iter_mut() {
                        match g {
                            syn::GenericArgument::Type(t) => *t = owned(t)?,
                            syn::GenericArgument::Lifetime(l) => *l = syn::Lifetime::new("'static", l.span()),
                            _ => {}
                        }
                    }
                }
            }
            Type::Path(tp)
        }
        Type::Tuple(t) => {
            let mut t = t.clone();
            for e in t.elems.iter_mut() {
                *e = owned(e)?;
            }
            Type::Tuple(t)
        }
        Type::Array(a) => {
            let mut a = a.clone();
            *a.elem = owned(&a.elem)?;
            Type::Array(a)
        }
        Type::Paren(p) => owned(&p.elem)?,
        Type::Group(g) => owned(&g.elem)?,
        other => other.clone(),
    })
}

/// The owned form of what a reference (or a `Cow`) points to.
fn owned_target(target: &Type) -> syn::Result<Type> {
    Ok(match target {
        Type::Path(p) if p.qself.is_none() && p.path.is_ident("str") => {
            syn::parse_quote!(::std::string::String)
        }
        Type::Path(p)
            if p.qself.is_none()
                && p.path.segments.last().is_some_and(|s| s.ident == "Path" && s.arguments.is_empty()) =>
        {
            syn::parse_quote!(::std::path::PathBuf)
        }
        Type::Slice(s) => {
            let e = owned(&s.elem)?;
            syn::parse_quote!(::std::vec::Vec<#e>)
        }
        other => owned(other)?,
    })
}

/// The name an argument pattern binds, when it is a plain name (`x`, `mut x`).
fn pat_ident(pat: &syn::Pat) -> Option<&Ident> {
    match pat {
        syn::Pat::Ident(p) if p.subpat.is_none() => Some(&p.ident),
        _ => None,
    }
}

/// The fingerprint function `deps` refers to for the function at `path`.
fn fingerprint_call(path: &Path) -> TokenStream2 {
    let mut path = path.clone();
    if let Some(last) = path.segments.last_mut() {
        last.ident = format_ident!("__stash_fingerprint_{}", last.ident);
        last.arguments = syn::PathArguments::None;
    }
    quote!(#path())
}

/// The code version of a function, as a `&'static str` expression: its own
/// (`own`: the fingerprint or `v<version>`), combined with its `deps`'.
fn version_expr(o: &Options, own: &str, fname: &Ident) -> syn::Result<TokenStream2> {
    if o.deps.is_empty() {
        return Ok(quote!(#own));
    }
    for d in &o.deps {
        let last = d.segments.last().map(|s| &s.ident);
        let itself = last == Some(fname)
            && (d.segments.len() == 1 || (d.segments.len() == 2 && d.segments[0].ident == "Self"));
        if itself {
            return Err(syn::Error::new_spanned(d, "`deps` names the function itself"));
        }
    }
    let krate = &o.krate;
    let fps = o.deps.iter().map(fingerprint_call);
    Ok(quote!({
        static __STASH_VERSION: ::std::sync::OnceLock<::std::string::String> = ::std::sync::OnceLock::new();
        __STASH_VERSION
            .get_or_init(|| #krate::func::__private::combine_fingerprints(#own, &[#(#fps),*]))
            .as_str()
    }))
}

/// The hidden `__stash_fingerprint_f()` other functions' `deps` call, and the
/// hidden `__stash_fn_key_f()` that `fn_key!` calls: the function's path (from
/// `path`, a `&str` expression) and code version, which make its key. It names no
/// crate, so `#[stash_fingerprint]` needs none.
fn fingerprint_fn(func: &ItemFn, version: &TokenStream2, path: &TokenStream2) -> TokenStream2 {
    let fp = format_ident!("__stash_fingerprint_{}", func.sig.ident);
    let key = format_ident!("__stash_fn_key_{}", func.sig.ident);
    let vis = &func.vis;
    let cfgs: Vec<_> = func.attrs.iter().filter(|a| a.path().is_ident("cfg")).collect();
    // The key repeats the version expression rather than calling `#fp()`: inside an
    // `impl` that call would need `Self::`, which a free function cannot have.
    quote! {
        #(#cfgs)*
        #[doc(hidden)]
        #[allow(dead_code, non_snake_case)]
        #vis fn #fp() -> &'static str {
            #version
        }

        #(#cfgs)*
        #[doc(hidden)]
        #[allow(dead_code, non_snake_case)]
        #vis fn #key() -> (::std::string::String, &'static str) {
            (::std::string::String::from(#path), #version)
        }
    }
}

/// Expands one function. `owner`: the impl's type as a literal name part
/// (`Type`, `<Type as Trait>`) when `#[stashed_result]` is on the impl block.
fn expand(attr: TokenStream2, func: ItemFn, kind: Kind, owner: Option<&str>) -> syn::Result<TokenStream2> {
    let what = kind.attr();
    let o = parse_options(attr, kind)?;
    let sig = &func.sig;
    let own_version = match &o.version {
        Some(v) => format!("v{v}"),
        None => fingerprint(&func),
    };
    let version = version_expr(&o, &own_version, &sig.ident)?;
    let has_receiver = sig.inputs.iter().any(|a| matches!(a, FnArg::Receiver(_)));
    let fn_path = path_of(&sig.ident.unraw().to_string(), has_receiver, owner);
    if kind == Kind::Fingerprint {
        let fp_fn = fingerprint_fn(&func, &version, &fn_path);
        return Ok(quote!(#func #fp_fn));
    }
    let generics: Vec<String> = sig
        .generics
        .params
        .iter()
        .filter_map(|p| match p {
            syn::GenericParam::Type(t) => Some(t.ident.to_string()),
            syn::GenericParam::Const(c) => Some(c.ident.to_string()),
            syn::GenericParam::Lifetime(_) => None,
        })
        .collect();
    if kind == Kind::Mapped && (!sig.generics.params.is_empty() || sig.generics.where_clause.is_some()) {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            format!("{what} does not support generic functions"),
        ));
    }
    if kind == Kind::Mapped && sig.asyncness.is_some() {
        return Err(syn::Error::new_spanned(
            sig.asyncness,
            "#[stash_mapped] does not support async functions: map an async fn with \
             `AsyncStash::map_async` (feature `async`)",
        ));
    }
    let mut tys = Vec::new();
    let mut pats = Vec::new();
    let mut receiver: Option<&syn::Receiver> = None;
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(r) if r.colon_token.is_some() => {
                return Err(syn::Error::new_spanned(
                    r,
                    format!("{what} supports `&self` and `self` receivers only"),
                ));
            }
            FnArg::Receiver(r) if r.mutability.is_some() && r.reference.is_some() => {
                return Err(syn::Error::new_spanned(
                    r,
                    format!("{what} does not support `&mut self`: a stored result would skip the mutation"),
                ));
            }
            FnArg::Receiver(r) => receiver = Some(r),
            FnArg::Typed(pt) => {
                if kind == Kind::Mapped && matches!(*pt.ty, Type::ImplTrait(_)) {
                    return Err(syn::Error::new_spanned(
                        &pt.ty,
                        "#[stash_mapped] does not support generic functions (`impl Trait` arguments)",
                    ));
                }
                if kind == Kind::Mapped && matches!(*pt.ty, Type::Reference(_)) {
                    return Err(syn::Error::new_spanned(
                        &pt.ty,
                        "#[stash_mapped] needs owned arguments (they go to worker threads): \
                         take `String` for `&str`, `Vec<T>` for `&[T]`, `T` for `&T`",
                    ));
                }
                tys.push((*pt.ty).clone());
                pats.push((*pt.pat).clone());
            }
        }
    }
    if kind == Kind::Mapped && tys.is_empty() {
        return Err(syn::Error::new_spanned(sig, "#[stash_mapped] needs an argument to map over"));
    }
    check_ignore(&o, &sig.ident, receiver, &pats)?;
    if kind == Kind::Mapped
        && let Some(ig) = o.ignore.iter().find(|i| *i != "self")
    {
        return Err(syn::Error::new_spanned(
            ig,
            "#[stash_mapped] can leave only `self` out of the key (`ignore = [self]`): \
             the mapped argument and the common ones make each result's key",
        ));
    }
    let ret: syn::Type = match &sig.output {
        syn::ReturnType::Default => syn::parse_quote!(()),
        syn::ReturnType::Type(_, t) => (**t).clone(),
    };
    if mentions_generic(quote!(#ret), &generics) {
        return Err(syn::Error::new_spanned(
            &ret,
            format!(
                "{what} cannot stash a generic (or `impl Trait`) result: a function's stash has one \
                 value type; return a concrete type"
            ),
        ));
    }
    let name = default_name(&o, &sig.ident, receiver.is_some(), owner);
    let parts = Parts { o: &o, version, own_version: &own_version, generics: &generics, name, fn_path };
    if kind == Kind::Result {
        return expand_result(&parts, &func, receiver, &tys, &pats, ret);
    }
    expand_mapped(&parts, &func, receiver, &tys, ret)
}

/// The function's stash name: `name = ".."`; else, on an impl block marked
/// `#[stashed_result]`, the literal `module_path!()::Type::f`; else for
/// methods `type_name::<Self>()::f` (at run time); else `module_path!()::f`.
fn default_name(o: &Options, fname: &Ident, receiver: bool, owner: Option<&str>) -> TokenStream2 {
    match &o.name {
        Some(n) => quote!(#n),
        None => path_of(&fname.to_string(), receiver, owner),
    }
}

/// A function's path as a `&str` expression: on an impl block marked
/// `#[stashed_result]` the literal `module_path!()::Type::f`; else for methods
/// `type_name::<Self>()::f` (at run time); else `module_path!()::f`.
fn path_of(fstr: &str, receiver: bool, owner: Option<&str>) -> TokenStream2 {
    match (owner, receiver) {
        (Some(t), _) => quote!(::core::concat!(::core::module_path!(), "::", #t, "::", #fstr)),
        (None, true) => quote!(&::std::format!("{}::{}", ::core::any::type_name::<Self>(), #fstr)),
        (None, false) => quote!(::core::concat!(::core::module_path!(), "::", #fstr)),
    }
}

/// Checks that every name in `ignore` is an argument (or `self`) of the function.
fn check_ignore(
    o: &Options,
    fname: &Ident,
    receiver: Option<&syn::Receiver>,
    pats: &[syn::Pat],
) -> syn::Result<()> {
    let names: Vec<Option<&Ident>> = pats.iter().map(pat_ident).collect();
    for ig in &o.ignore {
        let known = if ig == "self" { receiver.is_some() } else { names.contains(&Some(ig)) };
        if !known {
            let list: Vec<String> = receiver
                .map(|_| "self".to_string())
                .into_iter()
                .chain(names.iter().flatten().map(|n| n.to_string()))
                .collect();
            return Err(syn::Error::new_spanned(
                ig,
                format!("`ignore`: `{ig}` is not an argument of `{fname}` (it has: {})", list.join(", ")),
            ));
        }
    }
    Ok(())
}

/// What every expansion shares.
struct Parts<'a> {
    o: &'a Options,
    /// The code version as a `&'static str` expression (with `deps`).
    version: TokenStream2,
    /// The function's own version (fingerprint or `v<version>`): names its cell.
    own_version: &'a str,
    /// Names of the generic type and const parameters.
    generics: &'a [String],
    /// The function's stash name, a `&str` expression ([`default_name`]).
    name: TokenStream2,
    /// The function's path for its `fn_key!` key, a `&str` expression ([`path_of`]).
    fn_path: TokenStream2,
}

impl Parts<'_> {
    /// The expression opening the parent stash (`Result<S, E>`).
    fn open(&self) -> TokenStream2 {
        let krate = &self.o.krate;
        match &self.o.stash {
            Some(expr) => quote!(#expr),
            None => {
                let calls = self.o.builder.iter().map(|(k, v)| quote!(.#k(#v)));
                quote!(#krate::HashStash::builder() #(#calls)* .open())
            }
        }
    }

    /// The function's own settings, as a `__private::Settings`.
    fn settings(&self) -> TokenStream2 {
        let p = self.private();
        let some = |v: Option<TokenStream2>| match v {
            Some(v) => quote!(::core::option::Option::Some(#v)),
            None => quote!(::core::option::Option::None),
        };
        let ttl = some(self.o.ttl.clone());
        let max_entries = some(self.o.max_entries.as_ref().map(|e| quote!(#e)));
        let append = some(self.o.append.as_ref().map(|e| quote!(#e)));
        quote!(#p::Settings { ttl: #ttl, max_entries: #max_entries, append: #append })
    }

    fn private(&self) -> TokenStream2 {
        let krate = &self.o.krate;
        quote!(#krate::func::__private)
    }

    fn err(&self) -> TokenStream2 {
        let krate = &self.o.krate;
        quote!(#krate::func::Error)
    }

    /// An expression opening the function stash: the parent stash through the
    /// process-wide registry (only a successful open is kept; a failure is
    /// retried after a pause) with the function's settings, then
    /// `stashed_result/<name>/<version>` under it. `id_tail` tells
    /// `#[stash_mapped]`'s cell from `#[stashed_result]`'s.
    fn open_function_stash(
        &self,
        fstr: &str,
        id_tail: &str,
        key_ty: &TokenStream2,
        stored: &TokenStream2,
    ) -> TokenStream2 {
        let (p, err, open, settings) = (self.private(), self.err(), self.open(), self.settings());
        let name = &self.name;
        let (own, version) = (self.own_version, &self.version);
        let prune = self
            .o
            .prune_old_versions
            .then(|| quote!(#p::prune_other_versions::<#key_ty, #stored>(&s, #name, #version)?;));
        quote! {{
            static __STASH_PARENT: ::std::sync::OnceLock<&'static #p::ParentCell> = ::std::sync::OnceLock::new();
            let __parent = #p::parent(
                &__STASH_PARENT,
                ::core::concat!(::core::module_path!(), "::", #fstr, "@", ::core::file!(), ":",
                    ::core::line!(), ":", ::core::column!(), "/", #own, #id_tail),
                || match #open {
                    ::core::result::Result::Ok(s) => {
                        let s: &#p::Stash = &s;
                        let s = #p::configure(s, #settings)?;
                        #prune
                        ::core::result::Result::Ok(s)
                    }
                    ::core::result::Result::Err(e) => ::core::result::Result::Err(#err::from(e)),
                },
            );
            #p::function_stash::<#key_ty, #stored>(__parent, #name, #version)
        }}
    }
}

/// `#[stash_mapped]`: free functions, associated functions and methods. As
/// for `#[stashed_result]`, every generated item opens the function stash
/// itself and none names a sibling item, so the same code works in an `impl`.
/// A method's receiver is the first common argument (part of every key unless
/// `ignore = [self]`); `f_map` takes `&self` and clones it for the workers.
fn expand_mapped(
    parts: &Parts,
    func: &ItemFn,
    receiver: Option<&syn::Receiver>,
    tys: &[syn::Type],
    ret: syn::Type,
) -> syn::Result<TokenStream2> {
    let o = parts.o;
    let sig = &func.sig;
    let krate = &o.krate;
    let fname = &sig.ident;
    let vis = &func.vis;
    let cfgs: Vec<_> = func.attrs.iter().filter(|a| a.path().is_ident("cfg")).collect();
    let (p, err) = (parts.private(), parts.err());
    let args: Vec<_> = (0..tys.len()).map(|i| format_ident!("__stash_arg{}", i)).collect();
    let me = format_ident!("__stash_self");
    let self_kept = receiver.is_some() && !o.ignore.iter().any(|i| i == "self");
    // The common arguments (the same for every call, part of every key):
    // the receiver first when it is kept, then the arguments after the first.
    let mut common_ids: Vec<&Ident> = vec![];
    let mut common_tys: Vec<TokenStream2> = vec![];
    let mut common_vals: Vec<TokenStream2> = vec![];
    if self_kept {
        common_ids.push(&me);
        common_tys.push(quote!(Self));
        common_vals.push(quote!(::core::clone::Clone::clone(self)));
    }
    for (a, t) in args[1..].iter().zip(&tys[1..]) {
        common_ids.push(a);
        common_tys.push(quote!(#t));
        common_vals.push(quote!(#a));
    }
    let first = &tys[0];
    let (key_ty, pattern, common) = match common_ids.as_slice() {
        [] => (quote!((#first,)), None, None),
        [c] => {
            let (t, v) = (&common_tys[0], &common_vals[0]);
            (quote!((#first, #t)), Some(quote!(#c)), Some(v.clone()))
        }
        _ => (
            quote!((#first, (#(#common_tys,)*))),
            Some(quote!((#(#common_ids,)*))),
            Some(quote!((#(#common_vals,)*))),
        ),
    };
    // One call on a worker thread: the method through `Self::f` (the
    // receiver from the key, or captured when ignored); a function without
    // receiver runs its body, which names no item (free and associated alike).
    let call = match receiver {
        Some(r) => {
            let recv = match (r.reference.is_some(), self_kept) {
                (true, _) => quote!(&#me),
                (false, true) => quote!(#me),
                (false, false) => quote!(::core::clone::Clone::clone(&#me)),
            };
            quote!(Self::#fname(#recv, #(#args),*))
        }
        None => {
            let (pats, body) = (
                sig.inputs.iter().filter_map(|i| match i {
                    FnArg::Typed(pt) => Some(&pt.pat),
                    FnArg::Receiver(_) => None,
                }),
                &func.block,
            );
            quote!((move || -> #ret { #(let #pats = #args;)* #body })())
        }
    };
    let captured =
        (receiver.is_some() && !self_kept).then(|| quote!(let #me = ::core::clone::Clone::clone(self);));
    let first_arg = &args[0];
    let start = match (pattern, common) {
        (None, _) | (_, None) => quote!(#p::map1(&__fs, move |#first_arg| #call, inputs)),
        (Some(pat), Some(common)) => {
            quote!(#p::map(&__fs, move |#first_arg, #pat| #call, inputs, #common))
        }
    };
    let stored = quote!(#ret);
    let fs_ty = quote!(#krate::func::FunctionStash<#key_ty, #stored>);
    let accessor = format_ident!("{}_map_stash", fname);
    let fs_open = parts.open_function_stash(&fname.to_string(), "/map", &key_ty, &stored);
    let acc_doc = format!(
        "The stash of [`{fname}`]'s mapped results (`Err`: it could not be opened): iterate `(key) -> result`, or `get_func(&key)`."
    );
    let map_fn = format_ident!("{}_map", fname);
    let rest_tys = &tys[1..];
    let rest_args = &args[1..];
    let doc = format!(
        "Maps [`{fname}`] over `inputs` (its first argument{}) on a thread pool with stashed results: configure the returned builder, then `start()` or `results()`.",
        if common_ids.is_empty() {
            ""
        } else {
            "; the other arguments (and `self`, unless ignored) are the same for every call and part of each result's key"
        }
    );
    let recv = receiver.map(|_| quote!(&self,));
    // Without a receiver, `f_map` runs the body itself and never names `f`.
    let allow = receiver.is_none().then(|| quote!(#[allow(dead_code)]));
    Ok(quote! {
        #allow
        #func

        #(#cfgs)*
        #[doc = #doc]
        #[allow(dead_code)]
        #vis fn #map_fn(
            #recv
            inputs: impl ::core::iter::IntoIterator<Item = #first>,
            #(#rest_args: #rest_tys),*
        ) -> ::core::result::Result<#krate::func::MapBuilder<#first, #ret>, #err> {
            #captured
            let __fs: ::core::result::Result<#fs_ty, #err> = #fs_open;
            #start
        }

        #(#cfgs)*
        #[doc = #acc_doc]
        #[allow(dead_code)]
        #vis fn #accessor() -> ::core::result::Result<#fs_ty, #err> {
            #fs_open
        }
    })
}

/// `code-<16 hex>`: blake3 of the signature's and body's tokens, so comments
/// (outside doc attributes) and formatting do not count; any code change does.
fn fingerprint(func: &ItemFn) -> String {
    let (sig, body) = (&func.sig, &func.block);
    let text = quote!(#sig #body).to_string();
    format!("code-{}", &blake3::hash(text.as_bytes()).to_hex()[..16])
}

/// How a call's key is made, and the function stash's key type.
struct KeyPlan {
    /// An expression whose reference is serialized as the key.
    value: TokenStream2,
    /// The function stash's key type.
    ty: TokenStream2,
}

/// The key type `key = <expr>` names by itself: an argument, `self`, a
/// reference to one, or a tuple of them.
fn infer_key_type(
    e: &Expr,
    args: &[(Option<&Ident>, &Type)],
    receiver: bool,
    generics: &[String],
) -> Option<TokenStream2> {
    match e {
        Expr::Path(p) if p.qself.is_none() && p.path.segments.len() == 1 => {
            let id = &p.path.segments[0].ident;
            if id == "self" {
                return receiver.then(|| quote!(Self));
            }
            let (_, ty) = args.iter().find(|(n, _)| *n == Some(id))?;
            if mentions_generic(quote!(#ty), generics) {
                return None;
            }
            let t = owned(ty).ok()?;
            Some(quote!(#t))
        }
        Expr::Reference(r) => infer_key_type(&r.expr, args, receiver, generics),
        Expr::Paren(p) => infer_key_type(&p.expr, args, receiver, generics),
        Expr::Tuple(t) => {
            let ts = t
                .elems
                .iter()
                .map(|e| infer_key_type(e, args, receiver, generics))
                .collect::<Option<Vec<_>>>()?;
            Some(quote!((#(#ts,)*)))
        }
        _ => None,
    }
}

/// The key of `#[stashed_result]`: `key`, else the arguments less `ignore`
/// (`self` first); checks the options of the key against the signature.
fn key_plan(
    parts: &Parts,
    receiver: Option<&syn::Receiver>,
    tys: &[syn::Type],
    pats: &[syn::Pat],
    args: &[Ident],
) -> syn::Result<KeyPlan> {
    let o = parts.o;
    let names: Vec<Option<&Ident>> = pats.iter().map(pat_ident).collect();
    if let (Some(_), Some(ig)) = (&o.key, o.ignore.first()) {
        return Err(syn::Error::new_spanned(
            ig,
            "`ignore` has no use with `key = ...`, which is the whole key: leave the argument out of `key`",
        ));
    }
    if let (Some(t), None) = (&o.key_type, &o.key) {
        return Err(syn::Error::new_spanned(
            t,
            "`key_type` goes with `key = <expr>`: without `key`, the key type is the arguments' (owned) types",
        ));
    }
    if let (Some(t), false) = (&o.key_type, o.store_args) {
        return Err(syn::Error::new_spanned(
            t,
            "`key_type` has no use with `store_args = false`: the keys stored are digests (`String`)",
        ));
    }
    let ignored = |n: &str| o.ignore.iter().any(|i| i == n);
    let arg_list: Vec<(Option<&Ident>, &Type)> = names.iter().copied().zip(tys).collect();
    let value;
    let mut ty = None;
    if let Some(key) = &o.key {
        let binds = pats.iter().zip(args).map(|(pat, arg)| match pat_ident(pat) {
            Some(id) => quote!(#[allow(unused_variables)] let #id = &#arg;),
            None => quote!(#[allow(unused_variables)] let #pat = &#arg;),
        });
        value = quote!({ #(#binds)* #key });
        if o.key_type.is_none() && o.store_args {
            ty = Some(infer_key_type(key, &arg_list, receiver.is_some(), parts.generics).ok_or_else(
                || {
                    syn::Error::new_spanned(
                        key,
                        "cannot tell the type of this key (only of an argument or a tuple of arguments): \
                     add `key_type = <its type>`, the key type of the function's stash",
                    )
                },
            )?);
        }
    } else {
        let self_kept = receiver.is_some() && !ignored("self");
        let mut kept_args = vec![];
        let mut kept_tys = vec![];
        for ((n, t), a) in arg_list.iter().zip(args) {
            if n.is_some_and(|n| ignored(&n.to_string())) {
                continue;
            }
            if mentions_generic(quote!(#t), parts.generics) {
                let shown = match n {
                    Some(n) => format!("`{n}`"),
                    None => "an argument".to_string(),
                };
                let ignore = n.map(|n| format!(", or `ignore = [{n}]`")).unwrap_or_default();
                return Err(syn::Error::new_spanned(
                    t,
                    format!(
                        "#[stashed_result] cannot key on {shown}: its type is generic (or `impl Trait`, \
                         `dyn Trait`), and a function's stash has one key type. Build the key yourself \
                         with `key = <expr>` (and `key_type = <type>`){ignore}"
                    ),
                ));
            }
            kept_tys.push(owned(t)?);
            kept_args.push(a);
        }
        let me = self_kept.then(|| quote!(&self,));
        value = quote!((#me #(&#kept_args,)*));
        let me_ty = self_kept.then(|| quote!(Self,));
        ty = Some(quote!((#me_ty #(#kept_tys,)*)));
    }
    let ty = match (o.store_args, &o.key_type, ty) {
        (false, _, _) => quote!(::std::string::String),
        (true, Some(t), _) => quote!(#t),
        (true, None, Some(t)) => t,
        // Not reached: without `key_type`, the key's type was told above or refused.
        (true, None, None) => quote!(()),
    };
    Ok(KeyPlan { value, ty })
}

/// `#[stashed_result]`: free functions, associated functions and methods
/// alike. Every generated item opens the function stash itself (through a
/// process-wide registry keyed by the function), so none calls a sibling by
/// name: the same code works at module level and inside an `impl`.
fn expand_result(
    parts: &Parts,
    func: &ItemFn,
    receiver: Option<&syn::Receiver>,
    tys: &[syn::Type],
    pats: &[syn::Pat],
    ret: syn::Type,
) -> syn::Result<TokenStream2> {
    let o = parts.o;
    let sig = &func.sig;
    let krate = &o.krate;
    let fname = &sig.ident;
    let fstr = fname.to_string();
    let vis = &func.vis;
    let attrs = &func.attrs;
    let cfgs: Vec<_> = attrs.iter().filter(|a| a.path().is_ident("cfg")).collect();
    let name = &parts.name;
    let (p, err) = (parts.private(), parts.err());
    let args: Vec<_> = (0..tys.len()).map(|i| format_ident!("__stash_arg{}", i)).collect();
    let result = result_parts(&ret);
    let stored = match &result {
        Some((t, _)) => quote!(#t),
        None => quote!(#ret),
    };
    let plan = key_plan(parts, receiver, tys, pats, &args)?;
    let key_ty = &plan.ty;
    let key_value = &plan.value;
    let encode = if o.store_args { quote!(#p::encode_key) } else { quote!(#p::encode_digest_key) };
    let fs_ty = quote!(#krate::func::FunctionStash<#key_ty, #stored>);
    let fs_open = parts.open_function_stash(&fstr, "", key_ty, &stored);
    let accessor = format_ident!("{}_stash", fname);
    let acc_doc = format!(
        "The stash of [`{fname}`]'s results (`Err`: it could not be opened): iterate `(key) -> result`, or `get_func(&key)`."
    );
    let fp_fn = fingerprint_fn(func, &parts.version, &parts.fn_path);
    let accessor_fn = quote! {
        #(#cfgs)*
        #[doc = #acc_doc]
        #[allow(dead_code)]
        #vis fn #accessor() -> ::core::result::Result<#fs_ty, #err> {
            #fs_open
        }

        #fp_fn
    };
    let body = &func.block;
    let asyncness = &sig.asyncness;
    // The user's body over the (renamed) arguments and `self`: a closure, or
    // for an `async fn` a future (awaited once, by the computing task only).
    let compute = match asyncness {
        None => quote! {
            move || -> #ret {
                #(let #pats = #args;)*
                #body
            }
        },
        Some(_) => quote! {
            async move {
                #(let #pats = #args;)*
                #body
            }
        },
    };
    // The helper running one keyed call: stash-func's for a sync fn; for an
    // `async fn`, stash-async's, reached through the facade's macro (a compile
    // error naming the `async` feature when the facade is built without it).
    let call = |helper: &str| {
        let helper = Ident::new(helper, Span::call_site());
        match asyncness {
            None => quote!(#p::#helper(&__fs, __key, #compute)),
            Some(_) => quote!(#krate::__stash_async_call!(#helper(&__fs, __key, #compute)).await),
        }
    };
    let keyed = |helper: &str| {
        let call = call(helper);
        quote! {
            let __fs: ::core::result::Result<#fs_ty, #err> = #fs_open;
            match #encode(&__fs, &#key_value) {
                ::core::result::Result::Ok(__key) => #call,
                ::core::result::Result::Err(e) => ::core::result::Result::Err(e),
            }
        }
    };
    let recv_tokens = receiver.map(|r| {
        let (and, mutability) = (r.reference.as_ref().map(|(a, l)| quote!(#a #l)), &r.mutability);
        quote!(#and #mutability self,)
    });
    // The panicking form's receiver: `mut` is only needed where the body runs.
    let plain_recv = receiver.map(|r| {
        let and = r.reference.as_ref().map(|(a, l)| quote!(#a #l));
        quote!(#and self,)
    });
    let outer_inputs: Punctuated<FnArg, Token![,]> =
        args.iter().zip(tys).map(|(a, t)| -> FnArg { syn::parse_quote!(#a: #t) }).collect();
    let (constness, unsafety, abi, output) = (&sig.constness, &sig.unsafety, &sig.abi, &sig.output);
    let (generics, where_clause) = (&sig.generics, &sig.generics.where_clause);
    let accessor_fn = if o.accessors { accessor_fn } else { TokenStream2::new() };
    if let Some((_, e)) = &result {
        let keyed_ok = keyed("call_keyed_ok");
        return Ok(quote! {
            #accessor_fn

            #(#attrs)*
            #vis #constness #asyncness #unsafety #abi fn #fname #generics (#recv_tokens #outer_inputs) #output #where_clause {
                let __r: ::core::result::Result<#ret, #err> = { #keyed_ok };
                match __r {
                    ::core::result::Result::Ok(r) => r,
                    ::core::result::Result::Err(e) => ::core::result::Result::Err(
                        <#e as ::core::convert::From<#krate::Error>>::from(::core::convert::Into::into(e)),
                    ),
                }
            }
        });
    }
    let try_name = format_ident!("try_{}", fname);
    let try_doc = format!(
        "[`{fname}`] without panicking: an error reading or writing its stash (or opening it) is returned."
    );
    let try_body = keyed("call_keyed");
    // Methods call `Self::try_f`; free and associated functions (which cannot
    // name a sibling the same way in both places) run the body inline.
    if !o.accessors {
        // The function alone (trait impls take no other items): its body inline.
        return Ok(quote! {
            #(#attrs)*
            #vis #constness #asyncness #unsafety #abi fn #fname #generics (#recv_tokens #outer_inputs) #output #where_clause {
                let __r: ::core::result::Result<#ret, #err> = { #try_body };
                match __r {
                    ::core::result::Result::Ok(v) => v,
                    ::core::result::Result::Err(e) => #p::fail(#name, &#fs_open, e),
                }
            }
        });
    }
    let dot_await = asyncness.map(|_| quote!(.await));
    let panicking = if receiver.is_some() {
        let turbofish = generics.split_for_impl().1;
        let turbofish = turbofish.as_turbofish();
        quote!(Self::#try_name #turbofish (self, #(#args),*) #dot_await)
    } else {
        quote!({ #try_body })
    };
    Ok(quote! {
        #accessor_fn

        #(#cfgs)*
        #[doc = #try_doc]
        #[allow(dead_code)]
        #vis #constness #asyncness #unsafety #abi fn #try_name #generics (#recv_tokens #outer_inputs) -> ::core::result::Result<#ret, #err> #where_clause {
            #try_body
        }

        #(#attrs)*
        #vis #constness #asyncness #unsafety #abi fn #fname #generics (#plain_recv #outer_inputs) #output #where_clause {
            let __r: ::core::result::Result<#ret, #err> = #panicking;
            match __r {
                ::core::result::Result::Ok(v) => v,
                ::core::result::Result::Err(e) => #p::fail(#name, &#fs_open, e),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(src: &str) -> String {
        fingerprint(&syn::parse_str(src).unwrap())
    }

    #[test]
    fn fingerprint_ignores_formatting_and_comments_only() {
        let a = fp("fn f(x: u32) -> u32 { x + 1 }");
        let b = fp("fn f(x: u32)\n -> u32 {\n    // a comment\n    x   +   1\n}");
        assert_eq!(a, b);
        assert_ne!(a, fp("fn f(x: u32) -> u32 { x + 2 }"));
        assert_ne!(a, fp("fn f(x: u64) -> u32 { x as u32 + 1 }"));
        assert!(a.starts_with("code-") && a.len() == 21);
    }

    #[test]
    fn durations_parse_with_units_and_refuse_the_rest() {
        assert_eq!(parse_duration("1h"), Some((3600, 0)));
        assert_eq!(parse_duration("1h30m"), Some((5400, 0)));
        assert_eq!(parse_duration("2d 1s"), Some((172_801, 0)));
        assert_eq!(parse_duration("1500ms"), Some((1, 500_000_000)));
        assert_eq!(parse_duration("0s"), Some((0, 0)));
        for bad in ["", "1", "h", "1x", "1.5h", "-1s", "1h 2"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    fn owned_of(src: &str) -> String {
        let t = owned(&syn::parse_str(src).unwrap()).unwrap();
        quote!(#t).to_string().replace(' ', "")
    }

    #[test]
    fn borrowed_argument_types_key_as_their_owned_forms() {
        assert_eq!(owned_of("&str"), "::std::string::String");
        assert_eq!(owned_of("&'a str"), "::std::string::String");
        assert_eq!(owned_of("&[u8]"), "::std::vec::Vec<u8>");
        assert_eq!(owned_of("&Vec<u32>"), "Vec<u32>");
        assert_eq!(owned_of("Option<&str>"), "Option<::std::string::String>");
        assert_eq!(owned_of("Cow<'_, str>"), "::std::string::String");
        assert_eq!(owned_of("std::borrow::Cow<'a, [u8]>"), "::std::vec::Vec<u8>");
        assert_eq!(owned_of("&std::path::Path"), "::std::path::PathBuf");
        assert_eq!(
            owned_of("(&str, &[&str])"),
            "(::std::string::String,::std::vec::Vec<::std::string::String>)"
        );
        assert_eq!(owned_of("Wrapper<'a, &str>"), "Wrapper<'static,::std::string::String>");
        assert_eq!(owned_of("u64"), "u64");
        assert!(owned(&syn::parse_str("&mut String").unwrap()).is_err());
    }

    #[test]
    fn dependencies_change_the_version_and_a_function_cannot_depend_on_itself() {
        let o = parse_options(quote!(deps = [a::helper]), Kind::Result).unwrap();
        let f: Ident = syn::parse_quote!(f);
        let v = version_expr(&o, "code-0", &f).unwrap().to_string();
        assert!(v.contains("__stash_fingerprint_helper"), "{v}");
        let o = parse_options(quote!(deps = [f]), Kind::Result).unwrap();
        assert!(version_expr(&o, "code-0", &f).is_err());
        let o = parse_options(quote!(), Kind::Result).unwrap();
        assert_eq!(version_expr(&o, "code-0", &f).unwrap().to_string(), "\"code-0\"");
    }
}
