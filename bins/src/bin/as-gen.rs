fn main() -> std::process::ExitCode {
    as_tools::main("as-gen", as_tools::gen::run)
}
