/* The lab guest's SysV IPC owner (scripts/lab builds it static into the initramfs): one shared
 * memory segment, one semaphore set and one message queue with known keys and sizes, so that
 * `ipcs` has something real to list. It prints what it made, then waits forever. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>

#define KEY 0x6d6b6462 /* "mkdb" */

union semun { int val; };

int main(void) {
    int shm = shmget(KEY, 65536, IPC_CREAT | 0640);
    if (shm < 0) { perror("mk-ipc: shmget"); return 1; }
    char *p = shmat(shm, NULL, 0);
    if (p == (void *)-1) { perror("mk-ipc: shmat"); return 1; }
    strcpy(p, "mkdbg lab shm");
    int sem = semget(KEY + 1, 3, IPC_CREAT | 0600);
    if (sem < 0) { perror("mk-ipc: semget"); return 1; }
    union semun v = { .val = 7 };
    semctl(sem, 1, SETVAL, v);
    int msg = msgget(KEY + 2, IPC_CREAT | 0620);
    if (msg < 0) { perror("mk-ipc: msgget"); return 1; }
    struct { long type; char text[32]; } m = { 1, "mkdbg lab message" };
    for (int i = 0; i < 2; i++) msgsnd(msg, &m, sizeof m.text, 0);
    printf("MKDBG-IPC shm %d 0x%x 65536 sem %d 0x%x 3 msg %d 0x%x 2\n", shm, KEY, sem, KEY + 1, msg, KEY + 2);
    fflush(stdout);
    for (;;) pause();
}
