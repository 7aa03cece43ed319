fn main() -> std::process::ExitCode {
    camloop::cli::main()
}
