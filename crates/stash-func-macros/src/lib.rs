//! Attribute macros of hashstash: `#[stashed_result]` and `#[stash_mapped]`.
//! Documented in `stash-func` (and re-exported by the `hashstash` facade).

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, FnArg, ItemFn, Lit, Meta, Path, Token};

struct Options {
    krate: Path,
    stash: Option<Expr>,
    builder: Vec<(syn::Ident, Expr)>,
    version: Option<String>,
    name: Option<String>,
}

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
    "ttl",
    "max_entries",
    "max_bytes",
    "eviction",
];

fn parse_options(attr: TokenStream2) -> syn::Result<Options> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(attr)?;
    let mut o = Options {
        krate: syn::parse_quote!(::hashstash),
        stash: None,
        builder: vec![],
        version: None,
        name: None,
    };
    for meta in metas {
        let Meta::NameValue(nv) = meta else {
            return Err(syn::Error::new_spanned(meta, "expected `key = value`"));
        };
        let key = nv.path.get_ident().map(|i| i.to_string()).unwrap_or_default();
        let lit_str = |e: &Expr| match e {
            Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => Ok(s.value()),
            other => Err(syn::Error::new_spanned(other, format!("`{key}` takes a string literal"))),
        };
        match key.as_str() {
            "crate" => o.krate = syn::parse_str(&lit_str(&nv.value)?)?,
            "stash" => o.stash = Some(nv.value),
            "version" => o.version = Some(lit_str(&nv.value)?),
            "name" => o.name = Some(lit_str(&nv.value)?),
            k if BUILDER_KEYS.contains(&k) => {
                o.builder.push((nv.path.get_ident().cloned().unwrap(), nv.value))
            }
            _ => {
                return Err(syn::Error::new_spanned(
                    &nv.path,
                    format!(
                        "unknown option; expected one of: {}, stash, version, name, crate",
                        BUILDER_KEYS.join(", ")
                    ),
                ));
            }
        }
    }
    if o.stash.is_some() && !o.builder.is_empty() {
        return Err(syn::Error::new(
            Span::call_site(),
            "give either `stash = ...` or builder options, not both",
        ));
    }
    Ok(o)
}

/// Stashes every call's result: the first call with some arguments runs the
/// function and stores the result, later calls return it.
///
/// ```text
/// #[hashstash::stashed_result(engine = "lmdb", root_dir = "cache")]
/// fn embed(text: String) -> Vec<f32> { ... }
/// ```
///
/// Options: `root_dir, dbname, engine, url, serializer, compress, b64,
/// append_mode, clear, ttl, max_entries, max_bytes, eviction` (calls on
/// `HashStash::builder()`; `url` names the server of `engine = "redis"` or
/// `"mongo"`; `ttl = std::time::Duration::from_secs(3600)`), or `stash = <expr>`
/// returning `Result<S, E>` where `&S` coerces to `&Stash` and
/// `stash_func::Error: From<E>`; `version = "..."` (else a fingerprint of the
/// code: any change of the signature or body starts a new result folder);
/// `name = "..."` (default `module_path::fn`); `crate = "path"` (default
/// `::hashstash`). The stash is opened on the first call and kept once it
/// opened; a failed open is returned for a short pause (100 ms after the first
/// failure, doubling up to 5 s), then tried again, so a server that was down at
/// start-up does not break the function until a restart. The results follow
/// the life cycle of the stash they live in (its `ttl`, `max_entries`,
/// `max_bytes`, statistics, and its `clear()`, which empties them). Calls of one key wait
/// for each other (per key, at most 60 s, then compute anyway): see
/// `stash_func`'s crate docs on single flight.
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
/// - `fn f_stash() -> Result<FunctionStash<(args...), T or R>, stash_func::Error>`:
///   the stored results (`get_func`, `items`, `len`, `clear`, ...);
///   `old_versions()` / `prune_old_versions()` list and delete the folders
///   earlier bodies (other fingerprints or versions) wrote.
///
/// Methods of inherent impls (not trait impls: the extra items would not be
/// trait items): `&self` and `self` receivers (not `&mut self`, nor typed
/// receivers such as `self: Box<Self>`). The receiver is part of the key, so
/// `Self: Serialize` is required and two values with different state never
/// share results; `Foo::f_stash()` (keys `(Self, args...)`), `foo.try_f(..)`.
/// The default name is `type_name::<Self>()::f` (the type's full path).
/// Associated functions without receiver work like free functions
/// (`Foo::f_stash()`, `Foo::try_f(..)`; default name `module_path::f`).
/// For functions without receiver the body is compiled into both `f` and
/// `try_f`, so a `static` declared inside the body is not shared by them.
#[proc_macro_attribute]
pub fn stashed_result(attr: TokenStream, item: TokenStream) -> TokenStream {
    let func = syn::parse_macro_input!(item as ItemFn);
    match expand(attr.into(), func, Kind::Result) {
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
///   `(a, (b, c, ...))` for more;
/// - `fn f_map_stash() -> Result<FunctionStash<key, R>, stash_func::Error>`.
///
/// Options as for `#[stashed_result]`; results live in
/// `stashed_result/<module_path>::f/<code fingerprint or version>`.
#[proc_macro_attribute]
pub fn stash_mapped(attr: TokenStream, item: TokenStream) -> TokenStream {
    let func = syn::parse_macro_input!(item as ItemFn);
    match expand(attr.into(), func, Kind::Mapped) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Result,
    Mapped,
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

fn expand(attr: TokenStream2, func: ItemFn, kind: Kind) -> syn::Result<TokenStream2> {
    let what = if kind == Kind::Result { "#[stashed_result]" } else { "#[stash_mapped]" };
    let o = parse_options(attr)?;
    let sig = &func.sig;
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            format!("{what} does not support generic functions yet"),
        ));
    }
    if sig.asyncness.is_some() {
        return Err(syn::Error::new_spanned(
            sig.asyncness,
            format!("{what} does not support async functions"),
        ));
    }
    let mut tys = Vec::new();
    let mut pats = Vec::new();
    let mut receiver: Option<&syn::Receiver> = None;
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(r) if kind == Kind::Mapped => {
                return Err(syn::Error::new_spanned(
                    r,
                    "#[stash_mapped] on methods with `self` is not supported",
                ));
            }
            FnArg::Receiver(r) if r.colon_token.is_some() => {
                return Err(syn::Error::new_spanned(
                    r,
                    "#[stashed_result] supports `&self` and `self` receivers only",
                ));
            }
            FnArg::Receiver(r) if r.mutability.is_some() && r.reference.is_some() => {
                return Err(syn::Error::new_spanned(
                    r,
                    "#[stashed_result] does not support `&mut self`: a stored result would skip the mutation",
                ));
            }
            FnArg::Receiver(r) => receiver = Some(r),
            FnArg::Typed(pt) => {
                tys.push((*pt.ty).clone());
                pats.push((*pt.pat).clone());
            }
        }
    }
    if kind == Kind::Mapped && tys.is_empty() {
        return Err(syn::Error::new_spanned(sig, "#[stash_mapped] needs an argument to map over"));
    }
    let ret: syn::Type = match &sig.output {
        syn::ReturnType::Default => syn::parse_quote!(()),
        syn::ReturnType::Type(_, t) => (**t).clone(),
    };
    if kind == Kind::Result {
        return expand_result(&o, &func, receiver, &tys, &pats, ret);
    }
    let krate = &o.krate;
    let fname = &sig.ident;
    let vis = &func.vis;
    let attrs = &func.attrs;
    let cfgs: Vec<_> = attrs.iter().filter(|a| a.path().is_ident("cfg")).collect();
    let version = match &o.version {
        Some(v) => format!("v{v}"),
        None => fingerprint(&func),
    };
    let name = match &o.name {
        Some(n) => quote!(#n),
        None => {
            let f = fname.to_string();
            quote!(::core::concat!(::core::module_path!(), "::", #f))
        }
    };
    let open = match &o.stash {
        Some(expr) => quote!(#expr),
        None => {
            let calls = o.builder.iter().map(|(k, v)| quote!(.#k(#v)));
            quote!(#krate::HashStash::builder() #(#calls)* .open())
        }
    };
    let p = quote!(#krate::func::__private);
    let err = quote!(#krate::func::Error);
    let args: Vec<_> = (0..tys.len()).map(|i| format_ident!("__stash_arg{}", i)).collect();
    // What the function stash holds: keys and stored values.
    let first = &tys[0];
    let key_ty = match &tys[1..] {
        [] => quote!((#first,)),
        [c] => quote!((#first, #c)),
        rest => quote!((#first, (#(#rest,)*))),
    };
    let stored = quote!(#ret);
    let fs_ty = quote!(#krate::func::FunctionStash<#key_ty, #stored>);
    let (cell, accessor) =
        (format_ident!("__{}_map_stash_cell", fname), format_ident!("{}_map_stash", fname));
    let fs_open =
        open_function_stash(&p, &err, &open, &fname.to_string(), "/map", &key_ty, &stored, &name, &version);
    let cell_fn = quote! {
        #(#cfgs)*
        #[doc(hidden)]
        #[allow(non_snake_case)]
        fn #cell() -> ::core::result::Result<#fs_ty, #err> {
            #fs_open
        }
    };
    let acc_doc = format!(
        "The stash of [`{fname}`]'s results (`Err`: it could not be opened): iterate `(args) -> result`, or `get_func(&args)`."
    );
    let accessor_fn = quote! {
        #(#cfgs)*
        #[doc = #acc_doc]
        #[allow(dead_code)]
        #vis fn #accessor() -> ::core::result::Result<#fs_ty, #err> {
            #p::accessor(&#cell())
        }
    };
    {
        let map_fn = format_ident!("{}_map", fname);
        let first = &tys[0];
        let rest_tys = &tys[1..];
        let rest_args = &args[1..];
        let doc = format!(
            "Maps [`{fname}`] over `inputs` (its first argument{}) on a thread pool with stashed results: configure the returned builder, then `start()` or `results()`.",
            if rest_tys.is_empty() {
                ""
            } else {
                "; the other arguments are the same for every call and part of each result's key"
            }
        );
        let call = match rest_args {
            [] => quote!(#p::map1(&#cell(), #fname, inputs)),
            [c] => quote!(#p::map(&#cell(), #fname, inputs, #c)),
            rest => {
                quote!(#p::map(&#cell(), |__x, (#(#rest,)*)| #fname(__x, #(#rest),*), inputs, (#(#rest,)*)))
            }
        };
        Ok(quote! {
            #func

            #(#cfgs)*
            #[doc = #doc]
            #[allow(dead_code)]
            #vis fn #map_fn(
                inputs: impl ::core::iter::IntoIterator<Item = #first>,
                #(#rest_args: #rest_tys),*
            ) -> ::core::result::Result<#krate::func::MapBuilder<#first, #ret>, #err> {
                #call
            }

            #accessor_fn
            #cell_fn
        })
    }
}

/// An expression opening the function stash: the parent stash through the
/// process-wide registry (only a successful open is kept; a failure is
/// retried after a pause), then `stashed_result/<name>/<version>` under it.
/// `id_tail` tells `#[stash_mapped]`'s cell from `#[stashed_result]`'s.
#[allow(clippy::too_many_arguments)]
fn open_function_stash(
    p: &TokenStream2,
    err: &TokenStream2,
    open: &TokenStream2,
    fstr: &str,
    id_tail: &str,
    key_ty: &TokenStream2,
    stored: &TokenStream2,
    name: &TokenStream2,
    version: &str,
) -> TokenStream2 {
    quote! {{
        static __STASH_PARENT: ::std::sync::OnceLock<&'static #p::ParentCell> = ::std::sync::OnceLock::new();
        let __parent = #p::parent(
            &__STASH_PARENT,
            ::core::concat!(::core::module_path!(), "::", #fstr, "@", ::core::file!(), ":",
                ::core::line!(), ":", ::core::column!(), "/", #version, #id_tail),
            || match #open {
                ::core::result::Result::Ok(s) => {
                    let s: &#p::Stash = &s;
                    ::core::result::Result::Ok(::core::clone::Clone::clone(s))
                }
                ::core::result::Result::Err(e) => ::core::result::Result::Err(#err::from(e)),
            },
        );
        #p::function_stash::<#key_ty, #stored>(__parent, #name, #version)
    }}
}

/// `code-<16 hex>`: blake3 of the signature's and body's tokens, so comments
/// (outside doc attributes) and formatting do not count; any code change does.
fn fingerprint(func: &ItemFn) -> String {
    let (sig, body) = (&func.sig, &func.block);
    let text = quote!(#sig #body).to_string();
    format!("code-{}", &blake3::hash(text.as_bytes()).to_hex()[..16])
}

/// `#[stashed_result]`: free functions, associated functions and methods
/// alike. Every generated item opens the function stash itself (through a
/// process-wide registry keyed by the function), so none calls a sibling by
/// name: the same code works at module level and inside an `impl`.
fn expand_result(
    o: &Options,
    func: &ItemFn,
    receiver: Option<&syn::Receiver>,
    tys: &[syn::Type],
    pats: &[syn::Pat],
    ret: syn::Type,
) -> syn::Result<TokenStream2> {
    let sig = &func.sig;
    let krate = &o.krate;
    let fname = &sig.ident;
    let fstr = fname.to_string();
    let vis = &func.vis;
    let attrs = &func.attrs;
    let cfgs: Vec<_> = attrs.iter().filter(|a| a.path().is_ident("cfg")).collect();
    let version = match &o.version {
        Some(v) => format!("v{v}"),
        None => fingerprint(func),
    };
    let name = match (&o.name, receiver) {
        (Some(n), _) => quote!(#n),
        (None, Some(_)) => {
            quote!(&::std::format!("{}::{}", ::core::any::type_name::<Self>(), #fstr))
        }
        (None, None) => quote!(::core::concat!(::core::module_path!(), "::", #fstr)),
    };
    let open = match &o.stash {
        Some(expr) => quote!(#expr),
        None => {
            let calls = o.builder.iter().map(|(k, v)| quote!(.#k(#v)));
            quote!(#krate::HashStash::builder() #(#calls)* .open())
        }
    };
    let p = quote!(#krate::func::__private);
    let err = quote!(#krate::func::Error);
    let args: Vec<_> = (0..tys.len()).map(|i| format_ident!("__stash_arg{}", i)).collect();
    let result = result_parts(&ret);
    let stored = match &result {
        Some((t, _)) => quote!(#t),
        None => quote!(#ret),
    };
    let key_ty = if receiver.is_some() { quote!((Self, #(#tys,)*)) } else { quote!((#(#tys,)*)) };
    let key_refs = if receiver.is_some() { quote!((&self, #(&#args,)*)) } else { quote!((#(&#args,)*)) };
    let fs_ty = quote!(#krate::func::FunctionStash<#key_ty, #stored>);
    let fs_open = open_function_stash(&p, &err, &open, &fstr, "", &key_ty, &stored, &name, &version);
    let accessor = format_ident!("{}_stash", fname);
    let acc_doc = format!(
        "The stash of [`{fname}`]'s results (`Err`: it could not be opened): iterate `(args) -> result`, or `get_func(&args)`{}.",
        if receiver.is_some() { " (the key's first element is `self`)" } else { "" }
    );
    let accessor_fn = quote! {
        #(#cfgs)*
        #[doc = #acc_doc]
        #[allow(dead_code)]
        #vis fn #accessor() -> ::core::result::Result<#fs_ty, #err> {
            #fs_open
        }
    };
    let body = &func.block;
    // The user's body as a closure over the (renamed) arguments and `self`.
    let compute = quote! {
        move || -> #ret {
            #(let #pats = #args;)*
            #body
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
    let mut outer_sig = sig.clone();
    outer_sig.inputs = args.iter().zip(tys).map(|(a, t)| -> FnArg { syn::parse_quote!(#a: #t) }).collect();
    let outer_inputs = &outer_sig.inputs;
    let (constness, unsafety, abi, output) = (&sig.constness, &sig.unsafety, &sig.abi, &sig.output);
    if let Some((_, e)) = &result {
        return Ok(quote! {
            #accessor_fn

            #(#attrs)*
            #vis #constness #unsafety #abi fn #fname(#recv_tokens #outer_inputs) #output {
                let __r = (|| -> ::core::result::Result<#ret, #err> {
                    let __fs: ::core::result::Result<#fs_ty, #err> = #fs_open;
                    let __key = #p::encode_key(&__fs, &#key_refs)?;
                    #p::call_keyed_ok(&__fs, __key, #compute)
                })();
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
    let try_body = quote! {
        let __fs: ::core::result::Result<#fs_ty, #err> = #fs_open;
        let __key = #p::encode_key(&__fs, &#key_refs)?;
        #p::call_keyed(&__fs, __key, #compute)
    };
    // Methods call `Self::try_f`; free and associated functions (which cannot
    // name a sibling the same way in both places) run the body inline.
    let panicking = if receiver.is_some() {
        quote!(Self::#try_name(self, #(#args),*))
    } else {
        quote!((move || -> ::core::result::Result<#ret, #err> { #try_body })())
    };
    Ok(quote! {
        #accessor_fn

        #(#cfgs)*
        #[doc = #try_doc]
        #[allow(dead_code)]
        #vis #constness #unsafety #abi fn #try_name(#recv_tokens #outer_inputs) -> ::core::result::Result<#ret, #err> {
            #try_body
        }

        #(#attrs)*
        #vis #constness #unsafety #abi fn #fname(#plain_recv #outer_inputs) #output {
            match #panicking {
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
}
