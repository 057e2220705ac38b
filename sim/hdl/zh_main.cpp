// C++ main of the Verilator build of the bus player (sim/hdl/zh_player.v, compiled with
// -DZH_EXTERNAL_CLOCK): toggles the clock until the player raises `done` or calls $finish.
// No VPI and no timing scheduler: one eval per clock edge. Arguments are the player's
// plusargs (+limit=N); with a --trace-fst build, waves.fst is written in the working folder.
#include "Vzh_player.h"
#include "Vzh_player__Dpi.h"
#include "verilated.h"
#include <cstdint>
#include <cstdio>
#include <vector>
#if VM_TRACE
#include "verilated_fst_c.h"
#endif

// The script (script.bin, read whole at start) and the player's next operation in it.
static std::vector<unsigned char> script;
static size_t script_at = 0;

// One 16-byte operation (four big-endian words op addr data arg) into `op` (bits 127:96 =
// op): 16, or 0 at the end of the script, like $fread.
extern "C" int zh_script_read(svBitVecVal* op) {
    if (script.size() - script_at < 16) return 0;
    const unsigned char* p = &script[script_at];
    for (int w = 0; w < 4; ++w, p += 4)
        op[3 - w] = (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
    script_at += 16;
    return 16;
}

int main(int argc, char** argv) {
    if (FILE* f = std::fopen("script.bin", "rb")) {
        unsigned char chunk[1 << 16];
        for (size_t n; (n = std::fread(chunk, 1, sizeof chunk, f)) > 0;)
            script.insert(script.end(), chunk, chunk + n);
        std::fclose(f);
    } else {
        std::fprintf(stderr, "zh_player: cannot open script.bin\n");
        return 1;
    }
    VerilatedContext context;
    context.commandArgs(argc, argv);
    Vzh_player top{&context};
#if VM_TRACE
    context.traceEverOn(true);
    VerilatedFstC waves;
    top.trace(&waves, 99);
    waves.open("waves.fst");
#endif
    top.clk = 0;
    top.eval();
    while (!top.done && !context.gotFinish()) {
        for (int level = 1; level >= 0; --level) {
            top.clk = level;
            top.eval();
#if VM_TRACE
            waves.dump(context.time());
#endif
            context.timeInc(5);
        }
    }
    top.final();
#if VM_TRACE
    waves.close();
#endif
    return 0;
}
