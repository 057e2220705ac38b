// C++ main of the Verilator build of the bus player (sim/hdl/zh_player.v, compiled with
// -DZH_EXTERNAL_CLOCK): toggles the clock until the player raises `done` or calls $finish.
// No VPI and no timing scheduler: one eval per clock edge. Arguments are the player's
// plusargs (+limit=N); with a --trace-fst build, waves.fst is written in the working folder.
#include "Vzh_player.h"
#include "verilated.h"
#if VM_TRACE
#include "verilated_fst_c.h"
#endif

int main(int argc, char** argv) {
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
